-- LLM calls, budget reservations and generated articles, linked to their
-- run. Mirrors migrations/sqlite/0003_llm_budget.sql. Append-only.

-- What generate knew when it wrote the article, as JSON (TEXT, as on SQLite).
ALTER TABLE articles ADD COLUMN generation_notes TEXT;

ALTER TABLE llm_calls ADD COLUMN run_id BIGINT REFERENCES runs(id);
ALTER TABLE llm_calls ADD COLUMN reservation_id BIGINT REFERENCES budget_reservations(id);
CREATE INDEX llm_calls_run ON llm_calls (run_id);

ALTER TABLE budget_reservations ADD COLUMN run_id BIGINT REFERENCES runs(id);
ALTER TABLE budget_reservations ADD COLUMN provider TEXT;
ALTER TABLE budget_reservations ADD COLUMN model TEXT;
ALTER TABLE budget_reservations ADD COLUMN purpose TEXT;
CREATE INDEX budget_reservations_article ON budget_reservations (article_key);

-- Running totals per budget scope and window: what the caps count. A
-- reservation locks its five rows (SELECT … FOR UPDATE, in key order) so
-- reservations from several instances are serialized exactly.
CREATE TABLE budget_totals (
    scope_key      TEXT PRIMARY KEY,
    counted_micros BIGINT NOT NULL DEFAULT 0
);
