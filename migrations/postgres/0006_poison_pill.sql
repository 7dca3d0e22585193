-- The poison-pill guard: attempts of a job that started and never ended
-- because the process died while holding its lease, in a row. Claiming
-- adds one; any ending the engine records (success, failure, deferral,
-- release) sets it back to 0; at engine.poison_after the job is
-- quarantined as dead instead of being claimed again.
ALTER TABLE jobs ADD COLUMN unfinished_starts BIGINT NOT NULL DEFAULT 0;
