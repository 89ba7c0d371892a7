-- Writing a booking or a payment in one statement, so that the event's row lock (which every
-- writer of an event takes first) is held only while the rows are written and committed, with no
-- round trip to the server process under it.
--
-- The server reads a snapshot without locks, asks the domain for the decision, and calls one of
-- these functions outside any explicit transaction. Each takes the event's lock, checks that what
-- the decision rested on still holds, and writes it; when something has moved in between, it
-- writes nothing and answers 'stale', and the server reads again and decides again. The decision
-- itself (phase, price, limits) stays in the domain: these functions only apply it.

-- Outcomes: 'placed' (with the booking's id and the customer's name), 'stale', 'code_taken'.
CREATE FUNCTION apply_booking(
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
           AND p.price = p_unit_price AND p.start_date <= p_created_at AND p_created_at < p.end_date
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
    UPDATE events SET seats_taken = seats_taken + v_quantity,
                      pending_bookings = pending_bookings + 1,
                      seat_map_version = seat_map_version + 1
     WHERE id = p_event_id;
    RETURN QUERY SELECT 'placed'::TEXT, v_booking, u.name FROM users u WHERE u.id = p_customer_id;
END;
$$;

-- Outcomes: 'paid' (with the payment's id), 'stale' (the booking is no longer a pending hold
-- that lasts past p_paid_at).
CREATE FUNCTION apply_payment(
    p_booking_id BIGINT,
    p_event_id   BIGINT,
    p_paid_at    TIMESTAMPTZ,
    p_amount     BIGINT,
    p_method     TEXT,
    p_change     BIGINT
) RETURNS TABLE (outcome TEXT, payment_id BIGINT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_quantity INTEGER;
    v_total    BIGINT;
    v_payment  BIGINT;
BEGIN
    PERFORM 1 FROM events e WHERE e.id = p_event_id FOR NO KEY UPDATE;
    UPDATE bookings b SET status = 'confirmed', paid_at = p_paid_at
     WHERE b.id = p_booking_id AND b.event_id = p_event_id
       AND b.status = 'pending' AND b.expires_at > p_paid_at
    RETURNING b.quantity, b.total_price INTO v_quantity, v_total;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stale'::TEXT, NULL::BIGINT;
        RETURN;
    END IF;
    INSERT INTO payments (booking_id, amount, method, change, status, created_at)
    VALUES (p_booking_id, p_amount, p_method, p_change, 'success', p_paid_at)
    RETURNING id INTO v_payment;
    UPDATE events SET tickets_sold = tickets_sold + v_quantity,
                      pending_bookings = pending_bookings - 1,
                      revenue = revenue + v_total,
                      seat_map_version = seat_map_version + 1
     WHERE id = p_event_id;
    RETURN QUERY SELECT 'paid'::TEXT, v_payment;
END;
$$;
