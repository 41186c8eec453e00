-- When someone reported the key as leaked (keys/report-leak) and it was revoked for it: the
-- owner is told in the app.
ALTER TABLE api_keys ADD COLUMN leak_reported_at BIGINT;
