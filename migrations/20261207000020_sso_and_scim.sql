-- Single sign-on (OpenID Connect) and provisioning from an identity provider (SCIM 2.0).

-- A suspended membership (SCIM `active: false`) stays, with its role and its keys, but nothing
-- acts through it: no session in that account, no key of it, until it is reactivated. A key
-- check reads this column with the role, so the next request after the change is refused.
ALTER TABLE memberships ADD COLUMN suspended_at BIGINT;
-- What the identity provider calls the person, for its own matching (`externalId`) and for
-- people to read (`displayName`). Only SCIM writes them.
ALTER TABLE memberships ADD COLUMN external_id TEXT;
ALTER TABLE memberships ADD COLUMN display_name TEXT;
-- The break-glass path of an account that requires single sign-on: a membership marked here
-- (only by `keyward admin break-glass`, on the server) may still sign in with a password.
ALTER TABLE memberships ADD COLUMN password_allowed BIGINT NOT NULL DEFAULT 0;

-- The account policy `require_sso`: members sign in to this account through the identity
-- provider only (a password or passkey session is refused in it).
ALTER TABLE accounts ADD COLUMN require_sso BIGINT NOT NULL DEFAULT 0;

-- Which keyward login an identity provider's subject is. A subject is linked once, the first
-- time it signs in with a verified email of an existing login; from then on the email may
-- change at the provider and the link holds.
CREATE TABLE sso_identities (
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_by_user ON sso_identities (user_id);

-- One SCIM token per account (a new one replaces the old). Only a keyed hash is stored, as
-- for keys. `default_role` is the role of the members it creates.
CREATE TABLE scim_tokens (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    default_role TEXT NOT NULL CHECK (default_role IN ('admin', 'read_write', 'read_only')),
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

-- A login that SCIM creates has no password: its `password_hash` is empty, which no password
-- matches (`login_checks::prove_password`), and it signs in through the identity provider.

-- Two more kinds of actor in the trail: `scim` (the identity provider changing members with
-- the account's SCIM token) and `sso` (the identity provider setting a role at sign-in). The
-- first schema's CHECK lists the kinds, and SQLite cannot change a CHECK in place, so the table
-- is rebuilt — in SQL both engines run — with every stored value copied as it was: the chain
-- hashes stored values, so every link verifies as before.
CREATE TABLE audit_events_rebuilt (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    time           BIGINT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    actor_type     TEXT NOT NULL CHECK (actor_type IN ('user', 'user_key', 'account_key', 'cli', 'anonymous', 'scim', 'sso')),
    actor_user_id  TEXT,
    actor_email    TEXT,
    actor_key_id   TEXT,
    actor_key_name TEXT,
    target_type    TEXT,
    target_id      TEXT,
    target_label   TEXT,
    details        TEXT NOT NULL,
    client_address TEXT,
    user_agent     TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    actor_service_account_id   TEXT,
    actor_service_account_name TEXT,
    UNIQUE (account_id, seq)
);
INSERT INTO audit_events_rebuilt (
    id, account_id, seq, time, action, outcome, actor_type, actor_user_id, actor_email,
    actor_key_id, actor_key_name, target_type, target_id, target_label, details,
    client_address, user_agent, prev_hash, hash, actor_service_account_id,
    actor_service_account_name)
SELECT id, account_id, seq, time, action, outcome, actor_type, actor_user_id, actor_email,
       actor_key_id, actor_key_name, target_type, target_id, target_label, details,
       client_address, user_agent, prev_hash, hash, actor_service_account_id,
       actor_service_account_name
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_rebuilt RENAME TO audit_events;
CREATE INDEX audit_events_by_action ON audit_events (account_id, action, seq);
CREATE INDEX audit_events_by_actor ON audit_events (account_id, actor_user_id, seq);
CREATE INDEX audit_events_by_actor_key ON audit_events (account_id, actor_key_id, seq);
CREATE INDEX audit_events_by_target ON audit_events (account_id, target_id, seq);
CREATE INDEX audit_events_by_time ON audit_events (account_id, time);
CREATE INDEX audit_events_for_retention ON audit_events (time);
