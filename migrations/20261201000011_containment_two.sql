-- Containment, second round.

-- Which accounts' key checks changed, and at which value of the deployment-wide counter
-- (`key_check_epoch`): an instance that sees the counter move forgets the kept keys of these
-- accounts only, so a change in one account leaves every other account's keys in memory.
CREATE TABLE key_check_accounts (
    account_id TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL
);
CREATE INDEX key_check_accounts_by_seq ON key_check_accounts (seq);

-- The successor of a key rotated *through itself* is bound to the key it replaced: revoking
-- that key (or reporting either secret) stops the successor too, so a stolen key cannot rotate
-- itself into a secret its owner cannot reach from the key they revoke.
ALTER TABLE api_keys ADD COLUMN bound_to_key_id TEXT REFERENCES api_keys (id);
CREATE INDEX api_keys_by_bound_to ON api_keys (bound_to_key_id);
