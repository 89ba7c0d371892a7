-- The sale's writes in one round trip: what the domain decided for a batch of a show's bookings
-- and payments (or for one cancellation, check-in or expiry), written by one call. It states no
-- rule: it inserts the bookings, seats and payments it is given, writes the booking changes it is
-- given (each only if the booking still has the status and check-in it was read with), gives
-- back the seats of the bookings it is told released them, and moves the show's counters by the
-- differences it is given, each in the figure shard of its booking.
--
-- The fact it checks: `p_version_read`, the show's seat-map version the decisions were taken on
-- (every booking, payment, release and edit of the show moves it), still the version under the
-- show's lock. NULL when the caller read under the lock itself. A show that moved (or is gone),
-- or a booking that no longer has what was read, raises serialization_failure (40001): nothing
-- is written and the caller reads again.
--
-- `p_writes` is an object of arrays of records: bookings, seats, changes, payments, moves (see
-- adapters/src/postgres/sale.rs, `SaleWrites`). Returns the new bookings' ids by code and the new
-- payments' ids by booking.
CREATE FUNCTION write_sale(p_event BIGINT, p_version_read BIGINT, p_writes JSONB)
RETURNS TABLE (code TEXT, booking_id BIGINT, payment_id BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_new_ids   BIGINT[];
    v_new_codes TEXT[];
    v_changes   INTEGER;
    v_written   INTEGER;
BEGIN
    PERFORM 1 FROM events e WHERE e.id = p_event FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'show % is gone', p_event USING ERRCODE = '40001';
    END IF;
    IF p_version_read IS NOT NULL AND p_version_read <>
       (SELECT coalesce(sum(f.seat_map_changes), 0) FROM event_figures f WHERE f.event_id = p_event) THEN
        RAISE EXCEPTION 'show % moved since it was read', p_event USING ERRCODE = '40001';
    END IF;

    WITH booked AS (
        INSERT INTO bookings (code, event_id, phase_id, ticket_type, customer_id, quantity,
                              unit_price, total_price, status, created_at, expires_at)
        SELECT n.code, p_event, n.phase_id, n.ticket_type, n.customer_id, n.quantity,
               n.unit_price, n.total_price, n.status, n.created_at, n.expires_at
          FROM jsonb_to_recordset(p_writes->'bookings')
            AS n (code TEXT, phase_id BIGINT, ticket_type TEXT, customer_id BIGINT, quantity INTEGER,
                  unit_price BIGINT, total_price BIGINT, status TEXT, created_at TIMESTAMPTZ,
                  expires_at TIMESTAMPTZ)
        RETURNING id, code
    ), seated AS (
        INSERT INTO booking_seats (booking_id, seat_id, event_id, label)
        SELECT booked.id, s.seat_id, p_event, s.label
          FROM jsonb_to_recordset(p_writes->'seats') AS s (code TEXT, seat_id BIGINT, label TEXT)
          JOIN booked ON booked.code = s.code
    )
    SELECT coalesce(array_agg(booked.id), '{}'), coalesce(array_agg(booked.code), '{}')
      INTO v_new_ids, v_new_codes FROM booked;

    v_changes := coalesce(jsonb_array_length(p_writes->'changes'), 0);
    IF v_changes > 0 THEN
        UPDATE booking_seats bs SET released = TRUE
          FROM jsonb_to_recordset(p_writes->'changes') AS c (id BIGINT, releases_seats BOOLEAN)
         WHERE bs.booking_id = c.id AND c.releases_seats AND NOT bs.released;
        UPDATE bookings b SET status = c.status, paid_at = c.paid_at, cancelled_at = c.cancelled_at,
                              checked_in_at = c.checked_in_at, checked_in_by = c.checked_in_by
          FROM jsonb_to_recordset(p_writes->'changes')
            AS c (id BIGINT, status_read TEXT, checked_in_read TIMESTAMPTZ, status TEXT,
                  paid_at TIMESTAMPTZ, cancelled_at TIMESTAMPTZ, checked_in_at TIMESTAMPTZ,
                  checked_in_by BIGINT)
         WHERE b.id = c.id AND b.event_id = p_event AND b.status = c.status_read
           AND b.checked_in_at IS NOT DISTINCT FROM c.checked_in_read;
        GET DIAGNOSTICS v_written = ROW_COUNT;
        IF v_written <> v_changes THEN
            RAISE EXCEPTION 'bookings of show % changed since they were read', p_event
                USING ERRCODE = '40001';
        END IF;
    END IF;

    RETURN QUERY
    WITH paid AS (
        INSERT INTO payments (booking_id, amount, method, change, status, created_at)
        SELECT p.booking_id, p.amount, p.method, p.change, p.status, p.created_at
          FROM jsonb_to_recordset(p_writes->'payments')
            AS p (booking_id BIGINT, amount BIGINT, method TEXT, change BIGINT, status TEXT,
                  created_at TIMESTAMPTZ)
        RETURNING payments.booking_id, payments.id
    ), moves AS (
        SELECT coalesce(m.booking_id, new.id) AS booking_id, m.phase_id, m.seats_held,
               m.pending_bookings, m.tickets_sold, m.revenue, m.tickets_checked_in, m.seat_map_moved
          FROM jsonb_to_recordset(p_writes->'moves')
            AS m (code TEXT, booking_id BIGINT, phase_id BIGINT, seats_held INTEGER,
                  pending_bookings INTEGER, tickets_sold INTEGER, revenue BIGINT,
                  tickets_checked_in INTEGER, seat_map_moved INTEGER)
          LEFT JOIN unnest(v_new_ids, v_new_codes) AS new (id, code) ON new.code = m.code
    ), figures AS (
        UPDATE event_figures f SET
            seats_taken = f.seats_taken + d.seats_held,
            pending_bookings = f.pending_bookings + d.pending_bookings,
            tickets_sold = f.tickets_sold + d.tickets_sold,
            revenue = f.revenue + d.revenue,
            tickets_checked_in = f.tickets_checked_in + d.tickets_checked_in,
            seat_map_changes = f.seat_map_changes + d.seat_map_moved
          FROM (SELECT figure_shard(booking_id) AS shard, sum(seats_held) AS seats_held,
                       sum(pending_bookings) AS pending_bookings, sum(tickets_sold) AS tickets_sold,
                       sum(revenue) AS revenue, sum(tickets_checked_in) AS tickets_checked_in,
                       sum(seat_map_moved) AS seat_map_moved
                  FROM moves GROUP BY 1) AS d
         WHERE f.event_id = p_event AND f.shard = d.shard
    ), phases_moved AS (
        UPDATE phases p SET sold = p.sold + d.seats_held
          FROM (SELECT phase_id, sum(seats_held) AS seats_held FROM moves GROUP BY 1
                HAVING sum(seats_held) <> 0) AS d
         WHERE p.id = d.phase_id AND p.event_id = p_event
    )
    SELECT new.code, new.id, NULL::BIGINT FROM unnest(v_new_ids, v_new_codes) AS new (id, code)
    UNION ALL
    SELECT NULL::TEXT, paid.booking_id, paid.id FROM paid;
END;
$$;
