-- What each account's email looks like (its Unicode confusable skeleton, UTS #39), so that an
-- address that would be mistaken for an existing one can be found and refused. Computed by
-- WarTawa, which fills it in for accounts made before this migration when it starts.

ALTER TABLE users ADD COLUMN email_skeleton TEXT;
CREATE INDEX users_by_email_skeleton ON users (email_skeleton);
