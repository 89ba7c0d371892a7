-- The database's own ceiling for WarTawa's writes of a sale (bench/run.sh, step 5): one show of
-- 100 000 seats on sale to 100 000 customers, for bench/booking_ceiling.pgb to book and pay
-- with the server's write statements, with no HTTP server, no snapshot reads, no seat maps.
-- Run on a database WarTawa has migrated (`wartawa migrate`) and nothing else uses.
\set ON_ERROR_STOP on

\ir booking_code.sql
-- Buyer n takes seat n and booking code n: every booking is one seat of its own, for a customer
-- with none yet.
CREATE TABLE ceiling_codes (buyer bigint PRIMARY KEY, code text NOT NULL);
INSERT INTO ceiling_codes SELECT n, pg_temp.booking_code(n) FROM generate_series(1, 100000) AS n;
CREATE SEQUENCE ceiling_buyer;

INSERT INTO users (id, name, email, password_hash, role, created_at)
SELECT n, 'Ceiling buyer ' || n, 'ceiling-' || n || '@bench.example', '!', 'customer', now()
FROM generate_series(1, 100000) AS n;
INSERT INTO events (id, name, date, venue, capacity, seats_per_row, status, created_at)
VALUES (1, 'Booking ceiling', now() + interval '60 days', 'Bench Hall', 100000, 100, 'published', now());
INSERT INTO phases (id, event_id, position, name, price, quota, start_date, end_date)
VALUES (1, 1, 0, 'Normal', 150000, 100000, now() - interval '1 day', now() + interval '59 days');
INSERT INTO seats (id, event_id, position, row_index, number)
SELECT n, 1, n - 1, (n - 1) / 100, (n - 1) % 100 + 1 FROM generate_series(1, 100000) AS n;
ANALYZE;
