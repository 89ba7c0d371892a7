-- Idempotency keys expire by what they hold: a success is replayed for a day, a refusal (4xx) for
-- an hour. The time is decided when the answer is recorded and kept with the key, so that
-- forgetting expired keys and counting a user's live keys (a user may hold only so many) read a
-- stored fact. Keys made before this migration expire a day after their request began, as they did.

ALTER TABLE idempotency_keys ADD COLUMN expires_at TIMESTAMPTZ;
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours';
ALTER TABLE idempotency_keys ALTER COLUMN expires_at SET NOT NULL;

DROP INDEX idempotency_keys_by_age;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
