-- Booking code number n for the bench's SQL scripts (bench/seed.sql, bench/booking_ceiling.sql,
-- which include this file): BKG- and n in base 31 over the code alphabet (no 0/O, 1/I/L),
-- unique up to 31^5. A function of the session only.
CREATE FUNCTION pg_temp.booking_code(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'BKG-'
        || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', ((n / 923521) % 31)::integer + 1, 1)
        || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', ((n / 29791) % 31)::integer + 1, 1)
        || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', ((n / 961) % 31)::integer + 1, 1)
        || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', ((n / 31) % 31)::integer + 1, 1)
        || substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789', (n % 31)::integer + 1, 1)
$$;
