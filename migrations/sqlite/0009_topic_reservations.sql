-- One topic, one run: a topic is reserved for its site in the transaction
-- that commits the run's topic selection, so overlapping runs pick
-- different topics. topic_key is the keyword's stems, sorted (what "the
-- same topic" means). A reservation is released (released_at set) when its
-- run fails for good or is cancelled, and held again if the run is
-- revived; a run that succeeded keeps it.
CREATE TABLE topic_reservations (
    id          INTEGER PRIMARY KEY,
    site_id     INTEGER NOT NULL REFERENCES sites(id),
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    topic_key   TEXT NOT NULL,
    keyword     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    released_at INTEGER
);
-- A topic is held by one run of a site at a time.
CREATE UNIQUE INDEX topic_reservations_held ON topic_reservations (site_id, topic_key)
    WHERE released_at IS NULL;
CREATE INDEX topic_reservations_run ON topic_reservations (run_id);
