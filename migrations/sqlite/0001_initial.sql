-- The first schema: every table of the design. Times are INTEGER unix
-- milliseconds (UTC); money is INTEGER micro-dollars; JSON is TEXT.
-- Append-only: never edit this file once released; add 0002_… instead.

CREATE TABLE sites (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    enabled          INTEGER NOT NULL DEFAULT 1,
    paused           INTEGER NOT NULL DEFAULT 0,
    pause_reason     TEXT,
    max_concurrency  INTEGER NOT NULL DEFAULT 2,
    schedule_key     TEXT,
    next_run_at      INTEGER,
    last_run_at      INTEGER,
    cap_daily_micros   INTEGER,
    cap_monthly_micros INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE sources (
    id                   INTEGER PRIMARY KEY,
    site_id              INTEGER NOT NULL REFERENCES sites(id),
    url                  TEXT NOT NULL,
    kind                 TEXT NOT NULL DEFAULT 'auto',
    etag                 TEXT,
    last_modified        TEXT,
    next_check_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_checked_at      INTEGER,
    last_success_at      INTEGER,
    created_at           INTEGER NOT NULL,
    UNIQUE (site_id, url)
);

CREATE TABLE source_items (
    id           INTEGER PRIMARY KEY,
    site_id      INTEGER NOT NULL REFERENCES sites(id),
    source_id    INTEGER REFERENCES sources(id),
    key_hash     TEXT NOT NULL,
    guid         TEXT,
    url          TEXT,
    title        TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    published_at INTEGER,
    fetched_at   INTEGER NOT NULL,
    run_id       INTEGER,
    UNIQUE (site_id, key_hash)
);
CREATE INDEX source_items_site_fetched ON source_items (site_id, fetched_at);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    site_id      INTEGER NOT NULL REFERENCES sites(id),
    trigger      TEXT NOT NULL,
    slot_key     TEXT UNIQUE,
    until_stage  TEXT,
    status       TEXT NOT NULL,
    outcome      TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX runs_site_created ON runs (site_id, created_at);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs(id),
    site_id          INTEGER NOT NULL REFERENCES sites(id),
    stage            TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    not_before       INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    wait_reason      TEXT,
    result_summary   TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    UNIQUE (run_id, stage)
);
-- Claiming scans only pending jobs, in due order.
CREATE INDEX jobs_pending ON jobs (not_before, id) WHERE status IN ('queued', 'waiting');
-- Running jobs: per-site and global counts, expired leases.
CREATE INDEX jobs_running ON jobs (site_id, lease_expires_at) WHERE status = 'running';
-- Jobs of a run use the UNIQUE (run_id, stage) index. Every index costs
-- pages written per transaction; add one only for a query that needs it.

CREATE TABLE topics (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id),
    run_id     INTEGER REFERENCES runs(id),
    keyword    TEXT NOT NULL,
    score      REAL NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX topics_run ON topics (run_id);

CREATE TABLE articles (
    id               INTEGER PRIMARY KEY,
    site_id          INTEGER NOT NULL REFERENCES sites(id),
    run_id           INTEGER UNIQUE REFERENCES runs(id),
    topic            TEXT NOT NULL,
    status           TEXT NOT NULL,
    title            TEXT NOT NULL,
    slug             TEXT NOT NULL,
    meta_description TEXT NOT NULL DEFAULT '',
    focus_keyword    TEXT NOT NULL DEFAULT '',
    excerpt          TEXT NOT NULL DEFAULT '',
    tags             TEXT NOT NULL DEFAULT '[]',
    category         TEXT,
    body_markdown    TEXT NOT NULL,
    check_score      INTEGER,
    check_report     TEXT,
    review_reason    TEXT,
    published_at     INTEGER,
    published_url    TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX articles_site_status ON articles (site_id, status);

CREATE TABLE article_revisions (
    id            INTEGER PRIMARY KEY,
    article_id    INTEGER NOT NULL REFERENCES articles(id),
    revision      INTEGER NOT NULL,
    title         TEXT NOT NULL,
    body_markdown TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (article_id, revision)
);

CREATE TABLE llm_calls (
    id            INTEGER PRIMARY KEY,
    site_id       INTEGER REFERENCES sites(id),
    article_id    INTEGER REFERENCES articles(id),
    job_id        INTEGER REFERENCES jobs(id),
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros   INTEGER NOT NULL DEFAULT 0,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    outcome       TEXT NOT NULL,
    error         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX llm_calls_created ON llm_calls (created_at);

CREATE TABLE budget_reservations (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER REFERENCES sites(id),
    job_id          INTEGER REFERENCES jobs(id),
    article_key     TEXT,
    day             TEXT NOT NULL,
    month           TEXT NOT NULL,
    reserved_micros INTEGER NOT NULL,
    actual_micros   INTEGER,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    settled_at      INTEGER
);
CREATE INDEX budget_reservations_day ON budget_reservations (day, site_id);
CREATE INDEX budget_reservations_month ON budget_reservations (month, site_id);

CREATE TABLE publish_ledger (
    id              INTEGER PRIMARY KEY,
    article_id      INTEGER NOT NULL UNIQUE REFERENCES articles(id),
    site_id         INTEGER NOT NULL REFERENCES sites(id),
    target          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    remote_id       TEXT,
    remote_url      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE backups (
    id             INTEGER PRIMARY KEY,
    file_name      TEXT NOT NULL UNIQUE,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    row_counts     TEXT NOT NULL,
    remote_key     TEXT,
    created_at     INTEGER NOT NULL,
    verified_at    INTEGER,
    verify_ok      INTEGER,
    verify_error   TEXT
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    site_id INTEGER REFERENCES sites(id),
    run_id  INTEGER,
    job_id  INTEGER,
    kind    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    message TEXT NOT NULL,
    data    TEXT
);
