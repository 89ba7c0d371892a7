-- The outbox: what happened to a booking or a show is recorded in the transaction that changed it (never for
-- a change rolled back), then turned into deliveries and delivered at least once by whichever
-- WarTawa process claims them first.

-- What happened. `fanned_out` once its deliveries are made (one per webhook endpoint that wants
-- its kind, as the endpoints stood then, and one e-mail to the buyer for the kinds e-mailed).
CREATE TABLE notifications (
    id          BIGSERIAL   PRIMARY KEY,
    kind        TEXT        NOT NULL,
    event_id    BIGINT      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- NULL for what happened to the show itself.
    booking_id  BIGINT      REFERENCES bookings (id) ON DELETE CASCADE,
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    fanned_out  BOOLEAN     NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_to_fan_out ON notifications (id) WHERE NOT fanned_out;

-- Where organisers want to be told. The secret signs every delivery; it is shown once.
CREATE TABLE webhook_endpoints (
    id              BIGSERIAL   PRIMARY KEY,
    url             TEXT        NOT NULL,
    kinds           TEXT[]      NOT NULL CHECK (cardinality(kinds) > 0),
    secret          TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      BIGINT      NOT NULL REFERENCES users (id),
    -- Set when the endpoint failed for too long; nothing more is sent to it.
    disabled_at     TIMESTAMPTZ,
    disabled_reason TEXT,
    CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);

-- One notification for one receiver: a webhook endpoint, or the buyer's e-mail address (read when
-- sent). `body` is the exact text sent to an endpoint, fixed at the first attempt, so that every
-- retry carries the same id and signature input. A claimed delivery has `next_attempt_at` moved
-- past its attempt (a lease): another process takes it only if this one died before recording
-- the outcome.
CREATE TABLE deliveries (
    id                BIGSERIAL   PRIMARY KEY,
    notification_id   BIGINT      NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel           TEXT        NOT NULL CHECK (channel IN ('webhook', 'email')),
    endpoint_id       BIGINT      REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    state             TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts          INT         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   TIMESTAMPTZ NOT NULL,
    last_attempt_at   TIMESTAMPTZ,
    last_outcome      TEXT,
    delivered_at      TIMESTAMPTZ,
    body              TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    CHECK ((channel = 'webhook') = (endpoint_id IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE UNIQUE INDEX deliveries_one_per_endpoint ON deliveries (notification_id, endpoint_id)
    WHERE channel = 'webhook';
CREATE UNIQUE INDEX deliveries_one_email ON deliveries (notification_id) WHERE channel = 'email';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_of_endpoint ON deliveries (endpoint_id, id DESC) WHERE channel = 'webhook';
CREATE INDEX deliveries_parked_emails ON deliveries (id DESC) WHERE channel = 'email' AND state = 'parked';
