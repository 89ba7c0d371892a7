-- The audit trail: who checked a guest in, changed a role, deactivated an account, reset a
-- password, cancelled or deleted an event, and when. Each entry is written in the transaction of
-- the action it records, so that no action goes unrecorded and no entry tells of an action that
-- rolled back. Entries are only ever added.

CREATE TABLE audit_log (
    id          BIGSERIAL   PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor_id    BIGINT      NOT NULL REFERENCES users (id),
    action      TEXT        NOT NULL CHECK (action IN (
                    'booking_checked_in',
                    'user_role_changed',
                    'user_deactivated',
                    'user_password_reset',
                    'event_cancelled',
                    'event_deleted'
                )),
    -- No foreign key to what an entry names: the entry of a deleted event outlives the event.
    target_type TEXT        NOT NULL CHECK (target_type IN ('booking', 'user', 'event')),
    target_id   TEXT        NOT NULL CHECK (char_length(target_id) BETWEEN 1 AND 100),
    details     JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
-- The trail is read newest first, whole or of one action.
CREATE INDEX audit_log_newest_first ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX audit_log_by_action ON audit_log (action, occurred_at DESC, id DESC);
