-- The audit trail (DESIGN.md, "Accountability"). Append-only: the app inserts events and the
-- retention task deletes the oldest; nothing updates one.
--
-- Each account's events form a hash chain: an event's `hash` covers its own fields and the
-- `prev_hash` of the event before it (by `seq`), so editing, deleting or reordering a stored
-- event breaks the chain where it happened (`keyward audit verify`).
CREATE TABLE audit_events (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    -- 1, 2, 3… per account, without gaps: a missing number is a deleted event.
    seq            BIGINT NOT NULL,
    time           BIGINT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    actor_type     TEXT NOT NULL CHECK (actor_type IN ('user', 'user_key', 'account_key', 'cli', 'anonymous')),
    -- Who and which key, with the names they had then: an event reads the same after a key is
    -- renamed or a person leaves.
    actor_user_id  TEXT,
    actor_email    TEXT,
    actor_key_id   TEXT,
    actor_key_name TEXT,
    target_type    TEXT,
    target_id      TEXT,
    target_label   TEXT,
    -- A JSON object; never a secret, a hash of one, a password or a session id.
    details        TEXT NOT NULL,
    client_address TEXT,
    user_agent     TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    UNIQUE (account_id, seq)
);
-- `audit/list` walks one account newest first, optionally by action, person, key or time.
CREATE INDEX audit_events_by_action ON audit_events (account_id, action, seq);
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, seq);
CREATE INDEX audit_events_by_actor_key ON audit_events (account_id, actor_key_id, seq);
CREATE INDEX audit_events_by_target ON audit_events (account_id, target_id, seq);
CREATE INDEX audit_events_by_time ON audit_events (account_id, time);
-- Retention deletes by age across accounts.
CREATE INDEX audit_events_for_retention ON audit_events (time);

-- The newest link of each account's chain. Appending an event updates this row first, which
-- serialises appends per account (a row lock on PostgreSQL, the write lock on SQLite), so two
-- concurrent changes cannot both chain to the same predecessor.
CREATE TABLE audit_heads (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL
);
INSERT INTO audit_heads (account_id, seq, hash) SELECT id, 0, '' FROM accounts;

-- Requests per key per UTC day, for `usage_7d`; written in batches off the hot path.
CREATE TABLE key_daily_usage (
    key_id   TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    day      BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (key_id, day)
);
