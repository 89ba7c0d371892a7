-- Door staff: the `checker` role checks guests in and reads door lists, nothing else; and a
-- booking keeps who let its guest in, so that a second scan can say by whom.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('customer', 'admin', 'checker'));

ALTER TABLE bookings ADD COLUMN checked_in_by BIGINT REFERENCES users (id);
ALTER TABLE bookings ADD CONSTRAINT bookings_checked_in_by_needs_check_in
    CHECK (checked_in_by IS NULL OR checked_in_at IS NOT NULL);

-- Check-ins made before this migration: the audit trail recorded who made them.
UPDATE bookings b
   SET checked_in_by = a.actor_id
  FROM audit_log a
 WHERE a.action = 'booking_checked_in'
   AND a.target_type = 'booking'
   AND a.target_id = b.code
   AND b.checked_in_at IS NOT NULL;
