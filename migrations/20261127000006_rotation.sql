-- Rotation with grace: the key that replaced this one. A rotated key keeps working until the
-- grace period ends (its expires_at is brought forward to then), and cannot be rotated again.
ALTER TABLE api_keys ADD COLUMN rotated_to TEXT REFERENCES api_keys (id);
