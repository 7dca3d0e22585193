-- Waiting means what it says: a waiting job keeps why (wait_kind: cap,
-- provider or target) and until when the reason holds (wait_until). A
-- restart or a cap change wakes only cap waits, and only when the caps
-- changed; provider cooldowns and Retry-After deadlines are kept.
ALTER TABLE jobs ADD COLUMN wait_kind TEXT;
ALTER TABLE jobs ADD COLUMN wait_until BIGINT;
-- Jobs already waiting: the kind from the reason's wording (the budget's
-- refusal names a cap "would be crossed"; the publish stage names
-- min_interval or WordPress); anything else waited on a provider.
UPDATE jobs SET wait_until = not_before,
    wait_kind = CASE
        WHEN wait_reason LIKE '% cap%would be crossed%' THEN 'cap'
        WHEN wait_reason LIKE '%min_interval%' OR wait_reason LIKE 'WordPress at %' THEN 'target'
        ELSE 'provider'
    END
WHERE status = 'waiting';

-- Small facts the daemon keeps between starts: the caps seen at the last
-- start or cap change ("caps_seen"), a provider's cooldown
-- ("provider_cooldown:NAME": until when it asked us not to call).
CREATE TABLE daemon_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
