-- Backups: the mirror of migrations/sqlite/0005_backups.sql, in
-- PostgreSQL's types (INTEGER -> BIGINT). Backups are taken of SQLite
-- databases; the table exists here so a database moved with `db copy`
-- keeps its backup history. Append-only: never edit once released.

ALTER TABLE backups ADD COLUMN kind TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE backups ADD COLUMN db_size_bytes BIGINT;
ALTER TABLE backups ADD COLUMN verify_message TEXT;
ALTER TABLE backups ADD COLUMN remote_uploaded_at BIGINT;
CREATE INDEX backups_created ON backups (created_at);
