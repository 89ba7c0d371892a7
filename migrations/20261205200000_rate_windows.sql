-- The throttles' windows (logins, sign-ups, booking attempts per caller), shared by every
-- WarTawa process over this database, so that N processes behind a load balancer allow one
-- budget, not N. UNLOGGED: a count lost in a crash only lets a caller start a window afresh,
-- and writing no WAL keeps a hit cheap. Ended windows are deleted by the sweep.

CREATE UNLOGGED TABLE rate_windows (
    key     TEXT        PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 600),
    started TIMESTAMPTZ NOT NULL,
    count   INTEGER     NOT NULL CHECK (count > 0)
);
