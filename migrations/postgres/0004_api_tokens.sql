-- The operator surfaces: API tokens (the table came with 0001; tokens are
-- looked up by their hash among the unrevoked ones) and cap overrides set
-- through the API, applied on top of the config's caps by every budget
-- reservation. Mirrors migrations/sqlite/0004_api_tokens.sql. Append-only.

CREATE INDEX api_tokens_active ON api_tokens (revoked_at, name);

-- One row per overridden cap: scope_key is "global_daily", "global_monthly",
-- or "<scope>:<site id>" for site_daily, site_monthly and article.
CREATE TABLE cap_overrides (
    scope_key   TEXT PRIMARY KEY,
    scope       TEXT NOT NULL,
    site_id     BIGINT REFERENCES sites(id),
    cap_micros  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
