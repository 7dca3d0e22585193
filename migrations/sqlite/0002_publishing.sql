-- Publishing to WordPress: when each ledger row last began a post attempt
-- (the per-site rate limit reads it), and an optional featured image per
-- article. Append-only: never edit once released.

ALTER TABLE publish_ledger ADD COLUMN last_attempt_at INTEGER;
CREATE INDEX publish_ledger_site_attempt ON publish_ledger (site_id, last_attempt_at);

CREATE TABLE article_images (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    source     TEXT NOT NULL,
    alt_text   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
