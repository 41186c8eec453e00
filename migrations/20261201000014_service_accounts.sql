-- Service accounts: members without a login, owned by the account, so that a key can outlive
-- the person who set it up (and legacy account keys can get an owner). A service account is
-- never deleted as a row: deleting it marks it, so its keys (and the trail) keep naming it.
CREATE TABLE service_accounts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'read_write', 'read_only')),
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX service_accounts_by_account ON service_accounts (account_id, created_at);
CREATE UNIQUE INDEX service_accounts_by_name ON service_accounts (account_id, name)
    WHERE deleted_at IS NULL;

-- The members who may create, rotate and revoke a service account's keys (Admins always may).
-- A member's custodianships end with their membership.
CREATE TABLE service_account_custodians (
    service_account_id TEXT NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (service_account_id, user_id)
);
CREATE INDEX service_account_custodians_by_user ON service_account_custodians (user_id);

-- A key owned by a service account. Such a key has no person (user_id NULL), so its stored
-- `kind` is 'legacy_account', the only value the first schema allows for a key without one;
-- service_account_id is what makes it a service key, on the wire `kind: "service"`. It acts
-- with min(role_cap, the service account's current role), and with nothing once the service
-- account is deleted.
ALTER TABLE api_keys ADD COLUMN service_account_id TEXT REFERENCES service_accounts (id);
CREATE INDEX api_keys_by_service_account ON api_keys (service_account_id);

-- Who made the key (for a rotation's successor, who rotated): the key page names them. The
-- keys made before this column were made by their owners.
ALTER TABLE api_keys ADD COLUMN created_by_user_id TEXT REFERENCES users (id) ON DELETE SET NULL;
UPDATE api_keys SET created_by_user_id = user_id WHERE kind = 'user';

-- The account policy can require every service-account key to have an expiry or an allowlist.
ALTER TABLE accounts ADD COLUMN require_service_key_guard BIGINT NOT NULL DEFAULT 0;

-- An event made with a service key names the service account (with the name it had then). Its
-- stored actor_type is 'account_key' (a key no person holds), refined by these columns; on the
-- wire `type: "service_key"`. The chain hashes them when they are set.
ALTER TABLE audit_events ADD COLUMN actor_service_account_id TEXT;
ALTER TABLE audit_events ADD COLUMN actor_service_account_name TEXT;
