-- The books of a sale, checked after a load: each row names one thing that disagrees; no row is
-- books that agree. One statement, no trailing semicolon (callers add their own), read by
-- bench/kill_restart.sh and bench/fleet.sh.
SELECT 'seats missing: ' || b.code FROM bookings b LEFT JOIN booking_seats bs ON bs.booking_id = b.id
  GROUP BY b.id HAVING count(bs.seat_id) <> b.quantity
UNION ALL
SELECT 'seat in two open bookings: ' || bs.seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
  WHERE b.status IN ('pending', 'confirmed') GROUP BY bs.seat_id HAVING count(*) > 1
UNION ALL
SELECT 'seat released out of step with its booking: ' || b.code FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
  WHERE bs.released = (b.status IN ('pending', 'confirmed'))
UNION ALL
SELECT 'phase sold disagrees: ' || p.id FROM phases p LEFT JOIN bookings b ON b.phase_id = p.id GROUP BY p.id
  HAVING p.sold <> coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0)
UNION ALL
SELECT 'event figures disagree: ' || f.event_id || ' shard ' || f.shard FROM event_figures f
  LEFT JOIN bookings b ON b.event_id = f.event_id AND figure_shard(b.id) = f.shard GROUP BY f.event_id, f.shard
  HAVING f.seats_taken <> coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0)
      OR f.tickets_sold <> coalesce(sum(b.quantity) FILTER (WHERE b.status = 'confirmed'), 0)
      OR f.pending_bookings <> count(b.id) FILTER (WHERE b.status = 'pending')
      OR f.revenue <> coalesce(sum(b.total_price) FILTER (WHERE b.status = 'confirmed'), 0)
UNION ALL
SELECT 'payments disagree: ' || b.code FROM bookings b LEFT JOIN payments p ON p.booking_id = b.id GROUP BY b.id
  HAVING count(p.id) FILTER (WHERE p.status = 'success') <> CASE WHEN b.status = 'confirmed' THEN 1 ELSE 0 END
UNION ALL
SELECT 'payment amount disagrees: ' || p.id FROM payments p JOIN bookings b ON b.id = p.booking_id
  WHERE p.amount - p.change <> b.total_price
UNION ALL
SELECT 'payment names another show than its booking: ' || p.id FROM payments p JOIN bookings b ON b.id = p.booking_id
  WHERE p.event_id <> b.event_id
