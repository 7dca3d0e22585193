-- Backups: what kind each one is (taken by hand, by the schedule, or as the
-- safety copy before a restore), the size of the database it holds, the
-- summary of its last verification, and when its off-site copy was made.
-- The backups table itself is in 0001. Portable SQL: the PostgreSQL mirror
-- is the same statements with BIGINT for INTEGER.
-- Append-only: never edit once released.

ALTER TABLE backups ADD COLUMN kind TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE backups ADD COLUMN db_size_bytes INTEGER;
ALTER TABLE backups ADD COLUMN verify_message TEXT;
ALTER TABLE backups ADD COLUMN remote_uploaded_at INTEGER;
CREATE INDEX backups_created ON backups (created_at);
