-- Every statement of a show's sale reaches that show's rows by `event_id`, so that a later
-- distribution by `event_id` (docs/citus.md) can route it to one shard.

-- A payment names its show, as every other row of a show does (`bookings`, `booking_seats`,
-- `phases`, `seats`, …); the sale writes it with the show it holds the lock of
-- (adapters/src/postgres/sale.rs, `write_show`). No index of its own: payments are found through
-- `payments_booking_id_key (booking_id)`, their show filtering what it finds.
ALTER TABLE payments ADD COLUMN event_id BIGINT REFERENCES events (id);
UPDATE payments p SET event_id = b.event_id FROM bookings b WHERE b.id = p.booking_id;
ALTER TABLE payments ALTER COLUMN event_id SET NOT NULL;

-- The seats given back by a write (`released`) are now found by show and booking: with the show
-- alone in this index, a generic plan scanned every open seat of the show for the few of a
-- cancelled booking (18 000 rows on a show of 30 000 seats) instead of probing the booking's.
-- With the booking after the show, the index finds exactly those seats, and still serves the
-- open seats of a show (`EventRepository::update`).
DROP INDEX booking_seats_open_of_event;
CREATE INDEX booking_seats_open_of_event ON booking_seats (event_id, booking_id) WHERE NOT released;
