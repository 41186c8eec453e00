-- Lists are walked a page at a time in their display order (keyset pagination), so each list
-- has an index in that order: a page deep in a million keys then reads what the first one does.
-- The owner index replaces api_keys_by_owner, whose columns it starts with.
DROP INDEX api_keys_by_owner;
CREATE INDEX api_keys_by_owner_created ON api_keys (account_id, user_id, created_at, id);
CREATE INDEX api_keys_by_account_created ON api_keys (account_id, created_at, id);
DROP INDEX checks_by_account;
CREATE INDEX checks_by_account_name ON checks (account_id, name, id);
CREATE INDEX memberships_by_account_joined ON memberships (account_id, joined_at);
