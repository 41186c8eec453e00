-- Webhooks: an account's endpoints and the deliveries of its audit events to them.

-- An endpoint. `events` are the action patterns it wants ("key.*", "member.removed"), spaced.
-- No signing secret is stored: the secret is derived from the server's pepper and
-- `secret_salt` (random), so the database alone cannot sign or forge a delivery. After a
-- rotation the previous salt keeps signing too until `previous_secret_until`.
CREATE TABLE webhooks (
    id                    TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    events                TEXT NOT NULL,
    description           TEXT NOT NULL,
    secret_salt           TEXT NOT NULL,
    previous_secret_salt  TEXT,
    previous_secret_until BIGINT,
    -- 'active', or 'failing' once a delivery has run out of retries (until one succeeds).
    status                TEXT NOT NULL CHECK (status IN ('active', 'failing')),
    failing_since         BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks (account_id, created_at);

-- The outbox: one row per (event, endpoint), written by the audit append in the transaction of
-- the change it records, so a delivery exists exactly when its change committed. A worker
-- claims due rows (`claimed_until`, a lease: a crashed worker's claim runs out and another
-- takes the row) and sends them. `event_id` names the audit event whose view is the body; a
-- test event carries its own body in `payload`.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL,
    -- What the receiver sees as `webhook-id`: the event's id (a redelivery repeats it).
    message_id      TEXT NOT NULL,
    event_id        TEXT,
    event_type      TEXT NOT NULL,
    payload         TEXT,
    -- 'pending' (to be sent at next_attempt_at), 'delivered', or 'failed' (out of retries).
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_attempt_at BIGINT,
    response_status INTEGER,
    response_body   TEXT,
    duration_ms     BIGINT,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at);

-- `key.expiring` events are written once per key, 7 days before its expiry, whether or not
-- email is configured.
ALTER TABLE api_keys ADD COLUMN expiring_event_at BIGINT;
