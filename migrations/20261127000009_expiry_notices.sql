-- When each expiry email went out (NULL: not yet), so every owner is told once — 7 days
-- before and at expiry — even with several instances running the same round.
ALTER TABLE api_keys ADD COLUMN expiry_notice_sent_at BIGINT;
ALTER TABLE api_keys ADD COLUMN expired_notice_sent_at BIGINT;
CREATE INDEX api_keys_by_expiry ON api_keys (expires_at);
