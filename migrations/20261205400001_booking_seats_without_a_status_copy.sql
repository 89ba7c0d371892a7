-- A booking's seats no longer carry a copy of its status. The copy, cascaded by a foreign key on
-- (booking id, status), made every payment rewrite each of its seats' rows (and their indexes)
-- for a change that frees nothing: pending and confirmed both hold the seat. A seat row now says
-- only whether its booking has given the seat back (`released`), which the server writes when
-- the booking leaves the statuses that hold seats (expired, cancelled). The last line of defence
-- is unchanged: no seat is in two bookings that hold it.

ALTER TABLE booking_seats ADD COLUMN released BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE booking_seats SET released = TRUE WHERE status NOT IN ('pending', 'confirmed');

ALTER TABLE booking_seats DROP CONSTRAINT booking_seats_booking_id_status_fkey;
ALTER TABLE booking_seats ADD CONSTRAINT booking_seats_booking_id_fkey
    FOREIGN KEY (booking_id) REFERENCES bookings (id) ON DELETE CASCADE;
ALTER TABLE bookings DROP CONSTRAINT bookings_id_status_key;

DROP INDEX booking_seats_one_open_booking_per_seat;
DROP INDEX booking_seats_open_of_event;
ALTER TABLE booking_seats DROP COLUMN status;
CREATE UNIQUE INDEX booking_seats_one_open_booking_per_seat ON booking_seats (seat_id) WHERE NOT released;
CREATE INDEX booking_seats_open_of_event ON booking_seats (event_id) WHERE NOT released;
