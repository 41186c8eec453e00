-- Guards per key: the networks a key may be used from (comma-separated CIDRs, empty for
-- anywhere) and how many requests a minute it may make (NULL for no limit).
ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute BIGINT;
