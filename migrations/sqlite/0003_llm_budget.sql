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
