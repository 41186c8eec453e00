-- A key's grant, narrower than its role: the permissions it holds (names separated by spaces;
-- NULL for everything its role allows) and the checks it may touch (ids separated by spaces;
-- NULL for every check of the account).
ALTER TABLE api_keys ADD COLUMN permissions TEXT;
ALTER TABLE api_keys ADD COLUMN check_ids TEXT;

-- When each key last used each permission, written with the usage counts (off the request
-- path): what "narrow this key to what it used" offers.
CREATE TABLE key_permission_uses (
    key_id       TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    permission   TEXT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, permission)
);
