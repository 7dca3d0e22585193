-- LLM calls, budget reservations and generated articles, linked to their run
-- so per-article spend and provenance can be read back. Portable SQL: the
-- PostgreSQL schema adds the same columns.

-- What generate knew when it wrote the article (provider, model, the source
-- items it was given, links to domains outside the sources and allow-list,
-- repairs made to its metadata), as JSON. The check stage reads it.
ALTER TABLE articles ADD COLUMN generation_notes TEXT;

ALTER TABLE llm_calls ADD COLUMN run_id INTEGER REFERENCES runs(id);
ALTER TABLE llm_calls ADD COLUMN reservation_id INTEGER REFERENCES budget_reservations(id);
CREATE INDEX llm_calls_run ON llm_calls (run_id);

ALTER TABLE budget_reservations ADD COLUMN run_id INTEGER REFERENCES runs(id);
ALTER TABLE budget_reservations ADD COLUMN provider TEXT;
ALTER TABLE budget_reservations ADD COLUMN model TEXT;
ALTER TABLE budget_reservations ADD COLUMN purpose TEXT;
CREATE INDEX budget_reservations_article ON budget_reservations (article_key);

-- Running totals per budget scope and window ("global:day:2026-11-05",
-- "site:3:month:2026-11", "article:run:12"): what the caps count (settled
-- cost, or the reserve while unsettled), kept in step with
-- budget_reservations in the same transactions. A reservation reads five
-- rows by key instead of summing the day's reservations; PostgreSQL locks
-- the same rows (SELECT … FOR UPDATE) to serialize reservations.
CREATE TABLE budget_totals (
    scope_key      TEXT PRIMARY KEY,
    counted_micros INTEGER NOT NULL DEFAULT 0
);
