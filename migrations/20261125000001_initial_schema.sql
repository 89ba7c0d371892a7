-- WarTawa's whole model. The schema itself refuses what must never happen: a seat in two open
-- bookings, more tickets than a phase's quota, negative prices or quantities, unknown statuses,
-- rows that point at nothing.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT        NOT NULL CHECK (char_length(name) BETWEEN 3 AND 100),
    email         TEXT        NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('customer', 'admin')),
    nik           TEXT                 CHECK (nik ~ '^[0-9]{16}$'),
    phone_number  TEXT                 CHECK (phone_number ~ '^\+?[0-9]{10,15}$'),
    created_at    TIMESTAMPTZ NOT NULL,
    active        BOOLEAN     NOT NULL DEFAULT TRUE,
    -- Bumped when a password, a role or deactivation must end the sessions issued before.
    token_version BIGINT      NOT NULL DEFAULT 0 CHECK (token_version >= 0)
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_nik_key ON users (nik) WHERE nik IS NOT NULL;
CREATE INDEX users_active_admins ON users (id) WHERE role = 'admin' AND active;

CREATE TABLE events (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT        NOT NULL CHECK (char_length(name) BETWEEN 3 AND 255),
    description   TEXT,
    date          TIMESTAMPTZ NOT NULL,
    venue         TEXT        NOT NULL CHECK (char_length(venue) BETWEEN 1 AND 255),
    image_url     TEXT,
    capacity      INTEGER     NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
    seats_per_row INTEGER     NOT NULL CHECK (seats_per_row BETWEEN 1 AND 100),
    status        TEXT        NOT NULL CHECK (status IN ('published', 'cancelled')),
    created_at    TIMESTAMPTZ NOT NULL,
    -- Figures kept in step with the bookings, so that lists and the dashboard never count rows.
    seats_taken      INTEGER NOT NULL DEFAULT 0 CHECK (seats_taken BETWEEN 0 AND capacity),
    tickets_sold     INTEGER NOT NULL DEFAULT 0 CHECK (tickets_sold >= 0),
    tickets_checked_in INTEGER NOT NULL DEFAULT 0 CHECK (tickets_checked_in >= 0),
    pending_bookings INTEGER NOT NULL DEFAULT 0 CHECK (pending_bookings >= 0),
    revenue          BIGINT  NOT NULL DEFAULT 0 CHECK (revenue >= 0),
    -- Moves whenever a seat is taken, freed, sold, added or removed, so that every server
    -- process can tell whether its copy of the seat map is still current.
    seat_map_version BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX events_by_date ON events (date, id);

CREATE TABLE phases (
    id         BIGSERIAL PRIMARY KEY,
    event_id   BIGINT      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position   INTEGER     NOT NULL CHECK (position >= 0),
    name       TEXT        NOT NULL CHECK (char_length(name) BETWEEN 3 AND 50),
    price      BIGINT      NOT NULL CHECK (price >= 0),
    quota      INTEGER     NOT NULL CHECK (quota > 0),
    -- Tickets of pending and confirmed bookings: never above the quota.
    sold       INTEGER     NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= quota),
    start_date TIMESTAMPTZ NOT NULL,
    end_date   TIMESTAMPTZ NOT NULL CHECK (end_date > start_date),
    -- A phase taken off the event is kept while bookings still name it.
    removed    BOOLEAN     NOT NULL DEFAULT FALSE,
    CHECK (NOT removed OR sold = 0)
);
CREATE INDEX phases_of_event ON phases (event_id, position) WHERE NOT removed;

CREATE TABLE seats (
    id        BIGSERIAL PRIMARY KEY,
    event_id  BIGINT  NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- The seat's place in seat order (0-based); row and number follow from it.
    position  INTEGER NOT NULL CHECK (position >= 0),
    row_index INTEGER NOT NULL CHECK (row_index >= 0),
    number    INTEGER NOT NULL CHECK (number >= 1),
    -- A seat cut by a smaller capacity is kept while bookings still name it.
    removed   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX seats_of_event ON seats (event_id, position) WHERE NOT removed;

CREATE TABLE bookings (
    id            BIGSERIAL PRIMARY KEY,
    code          TEXT        NOT NULL CHECK (code ~ '^BKG-[A-HJKMNP-Z2-9]{5}$'),
    event_id      BIGINT      NOT NULL REFERENCES events (id),
    phase_id      BIGINT      NOT NULL REFERENCES phases (id),
    ticket_type   TEXT        NOT NULL,
    customer_id   BIGINT      NOT NULL REFERENCES users (id),
    quantity      INTEGER     NOT NULL CHECK (quantity > 0),
    unit_price    BIGINT      NOT NULL CHECK (unit_price >= 0),
    total_price   BIGINT      NOT NULL CHECK (total_price = unit_price * quantity),
    status        TEXT        NOT NULL CHECK (status IN ('pending', 'confirmed', 'expired', 'cancelled')),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    paid_at       TIMESTAMPTZ,
    cancelled_at  TIMESTAMPTZ,
    checked_in_at TIMESTAMPTZ,
    CHECK (status <> 'confirmed' OR paid_at IS NOT NULL),
    CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL),
    CHECK (checked_in_at IS NULL OR paid_at IS NOT NULL),
    -- Lets booking_seats carry the status through a cascading foreign key.
    UNIQUE (id, status)
);
CREATE UNIQUE INDEX bookings_code_key ON bookings (code);
CREATE INDEX bookings_of_customer ON bookings (customer_id, created_at DESC, id DESC);
CREATE INDEX bookings_newest ON bookings (created_at DESC, id DESC);
CREATE INDEX bookings_open_by_customer ON bookings (event_id, customer_id) WHERE status IN ('pending', 'confirmed');
CREATE INDEX bookings_pending_by_expiry ON bookings (expires_at) WHERE status = 'pending';
CREATE INDEX bookings_pending_of_event ON bookings (event_id, expires_at) WHERE status = 'pending';

CREATE TABLE booking_seats (
    booking_id BIGINT NOT NULL,
    -- Always the booking's status: the foreign key below cascades every status change here.
    status     TEXT   NOT NULL,
    seat_id    BIGINT NOT NULL REFERENCES seats (id),
    event_id   BIGINT NOT NULL REFERENCES events (id),
    label      TEXT   NOT NULL,
    PRIMARY KEY (booking_id, seat_id),
    FOREIGN KEY (booking_id, status) REFERENCES bookings (id, status) ON UPDATE CASCADE ON DELETE CASCADE
);
-- The last line of defence: no seat is ever in two pending or confirmed bookings.
CREATE UNIQUE INDEX booking_seats_one_open_booking_per_seat
    ON booking_seats (seat_id) WHERE status IN ('pending', 'confirmed');
CREATE INDEX booking_seats_open_of_event ON booking_seats (event_id) WHERE status IN ('pending', 'confirmed');

CREATE TABLE payments (
    id          BIGSERIAL PRIMARY KEY,
    -- One payment per booking, whatever the retries.
    booking_id  BIGINT      NOT NULL UNIQUE REFERENCES bookings (id),
    amount      BIGINT      NOT NULL CHECK (amount >= 0),
    method      TEXT        NOT NULL CHECK (char_length(method) BETWEEN 1 AND 100),
    change      BIGINT      NOT NULL CHECK (change >= 0 AND change <= amount),
    status      TEXT        NOT NULL CHECK (status IN ('success', 'refunded')),
    created_at  TIMESTAMPTZ NOT NULL,
    refunded_at TIMESTAMPTZ,
    CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);
