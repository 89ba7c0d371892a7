-- Seeds a WarTawa PostgreSQL database with many bookings, fast, straight into the schema of
-- migrations/ (up to 20261126200000_event_figures_in_shards.sql), keeping every constraint and every maintained
-- figure true. For growth curves (bench/growth.sh): how latency moves with 10k or 1M bookings.
--
--     psql -h 127.0.0.1 -U postgres -d DB -v bookings=1000000 -v tag=g1m -f bench/seed.sql
--
-- Run it on a database the server has already migrated (start the server on it once), while no
-- server is running on it, and before the app has made any booking there: seeded booking codes
-- are the row number in base 31 over the code alphabet, and could meet a code the app drew.
--
-- What it makes, for `bookings` = N:
--   * N/3 customers (seed-<tag>-<n>@seed.example) whose password hash bcrypt cannot read, so
--     they cannot log in (the app treats such a hash as matching no password);
--   * ceil(N / 40000) events 10+ days ahead, each with one phase "Normal" (100 000 rupiah, quota
--     = capacity) and capacity seats, 100 to a row (capacity <= 100 000: 2.5 seats per booking);
--   * N bookings of 1, 2 or 3 seats (2 on average), each booking its own seats: 80 % confirmed
--     (one in ten checked in), 1 % pending (held a day ahead, so nothing expires while measuring),
--     12 % cancelled (half of them after paying: payment refunded), 7 % expired;
--   * their booking_seats (released unless the booking holds them, labelled like the app: A1, …),
--     payments for the paid ones, then phases.sold and each event's figure shards (seats_taken,
--     tickets_sold, pending_bookings, revenue, tickets_checked_in of the bookings of the shard)
--     set to what those bookings imply, and checked against the rows before COMMIT.
\set ON_ERROR_STOP on
\timing on

SET synchronous_commit = off;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';

BEGIN;

CREATE TEMP TABLE seed_params ON COMMIT DROP AS
SELECT (:bookings)::bigint AS n,
       40000::bigint AS per_event,
       greatest(1, (:bookings)::bigint / 3) AS users,
       :'tag'::text AS tag,
       date_trunc('second', now()) AS t0;

-- Bijective base 26 like domain::seat::row_label: 0 -> A, 25 -> Z, 26 -> AA.
CREATE FUNCTION pg_temp.row_label(i integer) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r bigint := i::bigint + 1;
    out text := '';
BEGIN
    WHILE r > 0 LOOP
        out := chr(65 + ((r - 1) % 26)::integer) || out;
        r := (r - 1) / 26;
    END LOOP;
    RETURN out;
END
$$;

-- The booking codes: BKG- and the row number in base 31 over the code alphabet.
\ir booking_code.sql

DO $$
BEGIN
    IF (SELECT n FROM seed_params) NOT BETWEEN 1 AND 28629151 THEN
        RAISE EXCEPTION 'bookings must be between 1 and 31^5 - 1';
    END IF;
    IF EXISTS (SELECT 1 FROM bookings) THEN
        RAISE EXCEPTION 'seed a database without bookings: seeded codes could meet the app''s';
    END IF;
END
$$;

CREATE TEMP TABLE seed_row_labels ON COMMIT DROP AS
SELECT i AS row_index, pg_temp.row_label(i) AS label FROM generate_series(0, 999) i;

-- Customers.
INSERT INTO users (name, email, password_hash, role, created_at)
SELECT 'Seed Customer ' || u, 'seed-' || p.tag || '-' || u || '@seed.example',
       '!seeded-account-without-password', 'customer', p.t0 - interval '90 days'
FROM seed_params p, generate_series(0, p.users - 1) u;

CREATE TEMP TABLE seed_users ON COMMIT DROP AS
SELECT split_part(split_part(email, '@', 1), '-', 3)::bigint AS u, id
FROM users, seed_params p
WHERE email LIKE 'seed-' || p.tag || '-%@seed.example';
CREATE UNIQUE INDEX ON seed_users (u);

-- Events, their phase and their seats.
CREATE TEMP TABLE seed_events ON COMMIT DROP AS
SELECT e, least(p.per_event, p.n - e * p.per_event) AS nb,
       NULL::integer AS capacity, NULL::bigint AS id, NULL::bigint AS phase_id
FROM seed_params p, generate_series(0, (p.n + p.per_event - 1) / p.per_event - 1) e;
UPDATE seed_events SET capacity = least(100000, (ceil((2 * nb + 3) * 1.25 / 100.0) * 100)::integer);

INSERT INTO events (name, description, date, venue, capacity, seats_per_row, status, created_at)
SELECT 'Seeded show ' || p.tag || ' #' || se.e, 'Seeded by bench/seed.sql',
       p.t0 + (se.e + 10) * interval '1 day', 'Seed Hall, Jakarta', se.capacity, 100, 'published',
       p.t0 - interval '90 days'
FROM seed_events se, seed_params p
ORDER BY se.e;
UPDATE seed_events se SET id = ev.id
FROM events ev, seed_params p
WHERE ev.name = 'Seeded show ' || p.tag || ' #' || se.e;

INSERT INTO phases (event_id, position, name, price, quota, start_date, end_date)
SELECT se.id, 0, 'Normal', 100000, se.capacity, p.t0 - interval '90 days',
       p.t0 + (se.e + 10) * interval '1 day' - interval '1 hour'
FROM seed_events se, seed_params p;
UPDATE seed_events se SET phase_id = ph.id FROM phases ph WHERE ph.event_id = se.id;

INSERT INTO seats (event_id, position, row_index, number)
SELECT se.id, pos, pos / 100, pos % 100 + 1
FROM seed_events se, generate_series(0, se.capacity - 1) pos;

-- The bookings, planned: booking k of an event takes 1 + k % 3 seats from position
-- 6 * (k / 3) + (0, 1, 3)[k % 3], so the seats of an event's bookings never overlap.
CREATE TEMP TABLE seed_plan ON COMMIT DROP AS
SELECT g AS n, pg_temp.booking_code(g) AS code, se.id AS event_id, se.phase_id,
       1 + k % 3 AS q,
       6 * (k / 3) + (k % 3) * (k % 3 + 1) / 2 AS first,
       CASE WHEN (g * 37) % 100 < 80 THEN 'confirmed'
            WHEN (g * 37) % 100 < 81 THEN 'pending'
            WHEN (g * 37) % 100 < 93 THEN 'cancelled'
            ELSE 'expired' END AS status,
       (g * 37) % 100 BETWEEN 81 AND 86 AS refunded,
       CASE WHEN (g * 37) % 100 BETWEEN 80 AND 80 THEN p.t0 - interval '5 minutes'
            ELSE p.t0 - interval '30 days' + g * (interval '30 days' / p.n) END AS created_at
FROM seed_params p,
     generate_series(0, p.n - 1) g,
     LATERAL (SELECT g / p.per_event AS e, g % p.per_event AS k) x
     JOIN seed_events se ON se.e = x.e;
ALTER TABLE seed_plan
    ADD COLUMN expires_at timestamptz, ADD COLUMN paid_at timestamptz,
    ADD COLUMN cancelled_at timestamptz, ADD COLUMN checked_in_at timestamptz,
    ADD COLUMN customer_id bigint, ADD COLUMN booking_id bigint;
UPDATE seed_plan sp SET
    expires_at = CASE WHEN status = 'pending' THEN p.t0 + interval '1 day' ELSE created_at + interval '15 minutes' END,
    paid_at = CASE WHEN status = 'confirmed' OR refunded THEN created_at + interval '1 minute' END,
    cancelled_at = CASE WHEN status = 'cancelled' THEN created_at + interval '2 minutes' END,
    checked_in_at = CASE WHEN status = 'confirmed' AND sp.n % 10 = 0 THEN created_at + interval '3 minutes' END,
    customer_id = su.id
FROM seed_params p, seed_users su
WHERE su.u = sp.n % p.users;

INSERT INTO bookings (code, event_id, phase_id, ticket_type, customer_id, quantity, unit_price,
                      total_price, status, created_at, expires_at, paid_at, cancelled_at, checked_in_at)
SELECT code, event_id, phase_id, 'Normal', customer_id, q, 100000, q * 100000, status,
       created_at, expires_at, paid_at, cancelled_at, checked_in_at
FROM seed_plan
ORDER BY n;
UPDATE seed_plan sp SET booking_id = b.id FROM bookings b WHERE b.code = sp.code;

INSERT INTO booking_seats (booking_id, released, seat_id, event_id, label)
SELECT sp.booking_id, sp.status NOT IN ('pending', 'confirmed'), s.id, sp.event_id, rl.label || s.number
FROM seed_plan sp
CROSS JOIN LATERAL generate_series(0, sp.q - 1) j
JOIN seats s ON s.event_id = sp.event_id AND s.position = sp.first + j AND NOT s.removed
JOIN seed_row_labels rl ON rl.row_index = s.row_index;

INSERT INTO payments (booking_id, event_id, amount, method, change, status, created_at, refunded_at)
SELECT booking_id, event_id, q * 100000, 'BCA Virtual Account', 0,
       CASE WHEN status = 'confirmed' THEN 'success' ELSE 'refunded' END,
       paid_at, CASE WHEN status = 'cancelled' THEN cancelled_at END
FROM seed_plan
WHERE status = 'confirmed' OR refunded;

-- The maintained figures, from the bookings just made.
UPDATE phases ph SET sold = x.sold
FROM (SELECT phase_id, sum(q) AS sold FROM seed_plan
      WHERE status IN ('pending', 'confirmed') GROUP BY phase_id) x
WHERE ph.id = x.phase_id;

UPDATE event_figures f SET
    seats_taken = x.taken, tickets_sold = x.sold, pending_bookings = x.pending,
    revenue = x.revenue, tickets_checked_in = x.checked_in,
    seat_map_changes = f.seat_map_changes + 1
FROM (SELECT event_id, figure_shard(booking_id) AS shard,
             coalesce(sum(q) FILTER (WHERE status IN ('pending', 'confirmed')), 0) AS taken,
             coalesce(sum(q) FILTER (WHERE status = 'confirmed'), 0) AS sold,
             count(*) FILTER (WHERE status = 'pending') AS pending,
             coalesce(sum(q * 100000) FILTER (WHERE status = 'confirmed'), 0) AS revenue,
             coalesce(sum(q) FILTER (WHERE checked_in_at IS NOT NULL), 0) AS checked_in
      FROM seed_plan GROUP BY 1, 2) x
WHERE f.event_id = x.event_id AND f.shard = x.shard;

-- Check every event's figures against its rows (not against the plan) before committing.
DO $$
DECLARE
    bad integer;
BEGIN
    SELECT count(*) INTO bad
    FROM (SELECT event_id AS id, sum(seats_taken) AS seats_taken, sum(tickets_sold) AS tickets_sold,
                 sum(pending_bookings) AS pending_bookings, sum(revenue) AS revenue,
                 sum(tickets_checked_in) AS tickets_checked_in
          FROM event_figures GROUP BY event_id) ev
    LEFT JOIN (SELECT event_id,
                      sum(quantity) FILTER (WHERE status IN ('pending', 'confirmed')) AS taken,
                      sum(quantity) FILTER (WHERE status = 'confirmed') AS sold,
                      count(*) FILTER (WHERE status = 'pending') AS pending,
                      sum(total_price) FILTER (WHERE status = 'confirmed') AS revenue,
                      sum(quantity) FILTER (WHERE status = 'confirmed' AND checked_in_at IS NOT NULL) AS checked_in
               FROM bookings GROUP BY event_id) b ON b.event_id = ev.id
    WHERE ev.seats_taken <> coalesce(b.taken, 0) OR ev.tickets_sold <> coalesce(b.sold, 0)
       OR ev.pending_bookings <> coalesce(b.pending, 0) OR ev.revenue <> coalesce(b.revenue, 0)
       OR ev.tickets_checked_in <> coalesce(b.checked_in, 0);
    IF bad > 0 THEN
        RAISE EXCEPTION '% events'' figures disagree with their bookings', bad;
    END IF;
    SELECT count(*) INTO bad
    FROM phases ph
    LEFT JOIN (SELECT phase_id, sum(quantity) AS sold FROM bookings
               WHERE status IN ('pending', 'confirmed') GROUP BY phase_id) b ON b.phase_id = ph.id
    WHERE ph.sold <> coalesce(b.sold, 0);
    IF bad > 0 THEN
        RAISE EXCEPTION '% phases'' sold disagree with their bookings', bad;
    END IF;
    SELECT count(*) INTO bad
    FROM bookings b JOIN booking_seats bs ON bs.booking_id = b.id
    GROUP BY b.id, b.quantity HAVING count(*) <> b.quantity LIMIT 1;
    IF coalesce(bad, 0) > 0 THEN
        RAISE EXCEPTION 'a booking''s seats disagree with its quantity';
    END IF;
    SELECT count(*) INTO bad
    FROM payments pay JOIN bookings b ON b.id = pay.booking_id
    WHERE (pay.status = 'success') <> (b.status = 'confirmed');
    IF bad > 0 THEN
        RAISE EXCEPTION '% payments disagree with their bookings', bad;
    END IF;
END
$$;

SELECT (SELECT n FROM seed_params) AS bookings_seeded,
       (SELECT count(*) FROM seed_events) AS events_seeded,
       (SELECT sum(capacity) FROM seed_events) AS seats_seeded,
       (SELECT count(*) FROM seed_users) AS customers_seeded;

COMMIT;

ANALYZE;
