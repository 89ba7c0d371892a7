-- Idempotency keys: a retry of `POST /api/bookings` or `POST /api/bookings/{code}/pay` with the
-- same `Idempotency-Key` replays the first answer instead of booking or paying again. Each user
-- has keys of their own. Kept here, not in a process, so that a retry that reaches another
-- process finds the key; the primary key is what lets exactly one of simultaneous retries claim it.

CREATE TABLE idempotency_keys (
    user_id         BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             TEXT        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the request (method, path, body): the same key for another request is refused.
    fingerprint     TEXT        NOT NULL,
    -- Moves when a retry takes over a key whose attempt died, so that the dead attempt's late
    -- answer cannot overwrite the new one's.
    attempt         BIGINT      NOT NULL CHECK (attempt > 0),
    status          TEXT        NOT NULL CHECK (status IN ('in_progress', 'completed')),
    response_status SMALLINT             CHECK (response_status BETWEEN 100 AND 599),
    -- The answer's exact bytes, replayed as they are.
    response_body   BYTEA,
    -- When the current attempt began: keys live 24 hours from it.
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key),
    CHECK ((status = 'completed') = (response_status IS NOT NULL AND response_body IS NOT NULL))
);
-- For forgetting expired keys.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
