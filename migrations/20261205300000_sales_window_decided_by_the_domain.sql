-- The sales window is the domain's to decide, once: it sells at both ends of a phase's window
-- (`Phase::window_holds`), and this function sold only before the end, so a booking made at a
-- phase's last instant was refused here under every retry and answered 503. The function no
-- longer reads the window: the decision it applies was taken at `p_created_at` against the
-- phases it read. It still checks the facts the decision relied on (the event on sale on the same
-- date, the phase and its price, the customer's tickets, the seats free) and the phase's quota,
-- until the sale's writes check only facts (see the sale-path issue).

CREATE OR REPLACE FUNCTION apply_booking(
    p_code          TEXT,
    p_event_id      BIGINT,
    p_event_date    TIMESTAMPTZ,
    p_phase_id      BIGINT,
    p_ticket_type   TEXT,
    p_unit_price    BIGINT,
    p_customer_id   BIGINT,
    p_customer_held BIGINT,
    p_seat_ids      BIGINT[],
    p_labels        TEXT[],
    p_created_at    TIMESTAMPTZ,
    p_expires_at    TIMESTAMPTZ
) RETURNS TABLE (outcome TEXT, booking_id BIGINT, customer_name TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_quantity INTEGER := cardinality(p_seat_ids);
    v_booking  BIGINT;
BEGIN
    -- The event as the decision saw it: still on sale, on the same date.
    PERFORM 1 FROM events e
     WHERE e.id = p_event_id AND e.status = 'published' AND e.date = p_event_date
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stale'::TEXT, NULL::BIGINT, NULL::TEXT;
        RETURN;
    END IF;
    -- Under the lock every statement below reads the latest committed state.
    IF NOT EXISTS (
        SELECT 1 FROM phases p
         WHERE p.id = p_phase_id AND p.event_id = p_event_id AND NOT p.removed
           AND p.price = p_unit_price
           AND p.sold + v_quantity <= p.quota
    ) OR (
        SELECT coalesce(sum(b.quantity), 0) FROM bookings b
         WHERE b.event_id = p_event_id AND b.customer_id = p_customer_id
           AND b.status IN ('pending', 'confirmed')
    ) <> p_customer_held OR (
        SELECT count(*) FROM unnest(p_seat_ids) AS wanted (id) JOIN seats s ON s.id = wanted.id
         WHERE s.event_id = p_event_id AND NOT s.removed
    ) <> v_quantity OR EXISTS (
        SELECT 1 FROM booking_seats bs
         WHERE bs.seat_id = ANY (p_seat_ids) AND bs.status IN ('pending', 'confirmed')
    ) THEN
        RETURN QUERY SELECT 'stale'::TEXT, NULL::BIGINT, NULL::TEXT;
        RETURN;
    END IF;

    INSERT INTO bookings (code, event_id, phase_id, ticket_type, customer_id, quantity,
                          unit_price, total_price, status, created_at, expires_at)
    VALUES (p_code, p_event_id, p_phase_id, p_ticket_type, p_customer_id, v_quantity,
            p_unit_price, p_unit_price * v_quantity, 'pending', p_created_at, p_expires_at)
    ON CONFLICT (code) DO NOTHING
    RETURNING id INTO v_booking;
    IF v_booking IS NULL THEN
        RETURN QUERY SELECT 'code_taken'::TEXT, NULL::BIGINT, NULL::TEXT;
        RETURN;
    END IF;
    INSERT INTO booking_seats (booking_id, status, seat_id, event_id, label)
    SELECT v_booking, 'pending', t.seat_id, p_event_id, t.label
      FROM unnest(p_seat_ids, p_labels) AS t (seat_id, label);
    UPDATE phases SET sold = sold + v_quantity WHERE id = p_phase_id;
    UPDATE event_figures SET seats_taken = seats_taken + v_quantity,
                             pending_bookings = pending_bookings + 1,
                             seat_map_changes = seat_map_changes + 1
     WHERE event_id = p_event_id AND shard = figure_shard(v_booking);
    RETURN QUERY SELECT 'placed'::TEXT, v_booking, u.name FROM users u WHERE u.id = p_customer_id;
END;
$$;
