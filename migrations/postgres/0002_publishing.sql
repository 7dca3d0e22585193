-- Publishing to WordPress: when each ledger row last began a post attempt
-- (the per-site rate limit reads it), and an optional featured image per
-- article. Mirrors migrations/sqlite/0002_publishing.sql. Append-only.

ALTER TABLE publish_ledger ADD COLUMN last_attempt_at BIGINT;
CREATE INDEX publish_ledger_site_attempt ON publish_ledger (site_id, last_attempt_at);

CREATE TABLE article_images (
    article_id BIGINT PRIMARY KEY REFERENCES articles(id),
    source     TEXT NOT NULL,
    alt_text   TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
