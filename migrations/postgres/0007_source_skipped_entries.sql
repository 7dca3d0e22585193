-- Sources: how many entries the last successful read of a feed skipped
-- because nothing readable came out of them (no title, no link, no text).
-- The other entries are stored; this count is shown in the source's status.
-- The SQLite original is the same statement with INTEGER.
-- Append-only: never edit once released.

ALTER TABLE sources ADD COLUMN skipped_entries BIGINT NOT NULL DEFAULT 0;
