-- The account's key policy (Admins, on the Settings page): a maximum key lifetime, enforced
-- when a key is created and every time it is used, and whether every new key must expire.
ALTER TABLE accounts ADD COLUMN max_key_lifetime_days BIGINT;
ALTER TABLE accounts ADD COLUMN require_key_expiry BIGINT NOT NULL DEFAULT 0;
