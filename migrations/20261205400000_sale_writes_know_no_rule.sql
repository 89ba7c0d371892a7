-- The sale's writes are made by the server now, as the domain decided them (see
-- adapters/src/postgres/sale.rs): bookings and payments of a show are written together, their
-- counters moved by what the domain computed, each compared-and-set on the facts read. The
-- functions that re-checked the sale's rules in SQL are no longer called.
DROP FUNCTION apply_booking(TEXT, BIGINT, TIMESTAMPTZ, BIGINT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT[],
                            TEXT[], TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION apply_payment(BIGINT, BIGINT, TIMESTAMPTZ, BIGINT, TEXT, BIGINT);
