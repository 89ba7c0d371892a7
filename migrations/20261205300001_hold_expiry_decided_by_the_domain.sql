-- Whether a hold has lapsed is the domain's to decide (`Booking::hold_has_lapsed`), once: the
-- payment this function applies was accepted by the domain at `p_paid_at` against the booking it
-- read. The function checks the fact the decision relied on, that the booking is still a pending
-- hold (an expiry, a cancellation or another payment since changes that), not the expiry rule.

CREATE OR REPLACE FUNCTION apply_payment(
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
    PERFORM 1 FROM events e WHERE e.id = p_event_id FOR KEY SHARE;
    UPDATE bookings b SET status = 'confirmed', paid_at = p_paid_at
     WHERE b.id = p_booking_id AND b.event_id = p_event_id
       AND b.status = 'pending'
    RETURNING b.quantity, b.total_price INTO v_quantity, v_total;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stale'::TEXT, NULL::BIGINT;
        RETURN;
    END IF;
    INSERT INTO payments (booking_id, amount, method, change, status, created_at)
    VALUES (p_booking_id, p_amount, p_method, p_change, 'success', p_paid_at)
    RETURNING id INTO v_payment;
    UPDATE event_figures SET tickets_sold = tickets_sold + v_quantity,
                             pending_bookings = pending_bookings - 1,
                             revenue = revenue + v_total,
                             seat_map_changes = seat_map_changes + 1
     WHERE event_id = p_event_id AND shard = figure_shard(p_booking_id);
    RETURN QUERY SELECT 'paid'::TEXT, v_payment;
END;
$$;
