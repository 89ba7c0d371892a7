-- An event's figures and seat-map version move off the event's row.
--
-- Every booking and every payment of a show used to update the show's own row (seats taken,
-- tickets sold, pending bookings, revenue, seat-map version), so the whole sale committed one
-- booking or payment at a time, each waiting for the row lock held by the one before. The figures
-- now live in sixteen rows per event, its shards: a booking's figures are kept in the shard of its
-- id (`figure_shard`), so that payments of one show update different rows, and each shard holds
-- exactly the figures of its own bookings (which is why no shard ever goes below zero). An event's
-- figures are the sums over its shards.
--
-- The seat-map version is the sum of the shards' `seat_map_changes`. Every change of a seat's
-- status adds one to a shard, and no counter ever goes down, so the sum read by any later
-- statement is never smaller, and it moves with every committed change: a copy of the map made
-- at version v is current exactly while the sum still reads v.

CREATE TABLE event_figures (
    event_id           BIGINT   NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    shard              SMALLINT NOT NULL CHECK (shard BETWEEN 0 AND 15),
    -- Tickets of the shard's pending and confirmed bookings.
    seats_taken        INTEGER  NOT NULL DEFAULT 0 CHECK (seats_taken >= 0),
    -- Tickets of its confirmed bookings, and what they paid.
    tickets_sold       INTEGER  NOT NULL DEFAULT 0 CHECK (tickets_sold >= 0),
    revenue            BIGINT   NOT NULL DEFAULT 0 CHECK (revenue >= 0),
    tickets_checked_in INTEGER  NOT NULL DEFAULT 0 CHECK (tickets_checked_in >= 0),
    pending_bookings   INTEGER  NOT NULL DEFAULT 0 CHECK (pending_bookings >= 0),
    seat_map_changes   BIGINT   NOT NULL DEFAULT 0 CHECK (seat_map_changes >= 0),
    PRIMARY KEY (event_id, shard)
);

-- The shard that keeps a booking's figures.
CREATE FUNCTION figure_shard(p_booking_id BIGINT) RETURNS SMALLINT
LANGUAGE sql IMMUTABLE AS $$ SELECT (p_booking_id % 16)::SMALLINT $$;

-- Every event has its sixteen shards from the moment it exists.
CREATE FUNCTION add_event_figure_shards() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_figures (event_id, shard) SELECT NEW.id, shard FROM generate_series(0, 15) AS shard;
    RETURN NEW;
END;
$$;
CREATE TRIGGER events_have_figure_shards AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION add_event_figure_shards();

-- The events already there: each shard's figures counted from its bookings, the old version kept
-- in shard 0 so that no version goes back.
INSERT INTO event_figures (event_id, shard, seats_taken, tickets_sold, revenue, tickets_checked_in,
                           pending_bookings, seat_map_changes)
SELECT e.id, shard.n,
       coalesce(sum(b.quantity) FILTER (WHERE b.status IN ('pending', 'confirmed')), 0),
       coalesce(sum(b.quantity) FILTER (WHERE b.status = 'confirmed'), 0),
       coalesce(sum(b.total_price) FILTER (WHERE b.status = 'confirmed'), 0),
       coalesce(sum(b.quantity) FILTER (WHERE b.checked_in_at IS NOT NULL), 0),
       count(b.id) FILTER (WHERE b.status = 'pending'),
       CASE WHEN shard.n = 0 THEN e.seat_map_version ELSE 0 END
  FROM events e
 CROSS JOIN generate_series(0, 15) AS shard (n)
  LEFT JOIN bookings b ON b.event_id = e.id AND figure_shard(b.id) = shard.n
 GROUP BY e.id, shard.n;

ALTER TABLE events
    DROP COLUMN seats_taken,
    DROP COLUMN tickets_sold,
    DROP COLUMN tickets_checked_in,
    DROP COLUMN pending_bookings,
    DROP COLUMN revenue,
    DROP COLUMN seat_map_version;

-- A booking adds its figures to its own shard.
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
    UPDATE event_figures SET seats_taken = seats_taken + v_quantity,
                             pending_bookings = pending_bookings + 1,
                             seat_map_changes = seat_map_changes + 1
     WHERE event_id = p_event_id AND shard = figure_shard(v_booking);
    RETURN QUERY SELECT 'placed'::TEXT, v_booking, u.name FROM users u WHERE u.id = p_customer_id;
END;
$$;

-- A payment no longer takes the event's lock for itself: it takes the event's row in key-share
-- mode, which other payments and bookings share and which waits only for (and holds off) the
-- writers that lock the event whole (a cancellation, a check-in, an expiry, a change of the event).
-- Those keep their order: event, then bookings, then figures. It confirms the booking only while
-- it is a pending hold, and adds to the booking's own shard.
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
       AND b.status = 'pending' AND b.expires_at > p_paid_at
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
