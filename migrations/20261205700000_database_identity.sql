-- A value drawn once per database, copied by streaming replication with everything else: a read
-- replica (DATABASE_READ_URL) is used only while it holds the same value as the primary, so that
-- a URL naming a standby of some other database is never read (adapters/src/postgres/replica.rs).
CREATE TABLE database_identity (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row)
);
INSERT INTO database_identity DEFAULT VALUES;
