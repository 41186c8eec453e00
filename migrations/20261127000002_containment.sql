-- Containment: what a stolen key or a stale session can never do (DESIGN.md, "Containment").

-- A membership gets an identity of its own. A key belongs to the membership it was created in,
-- not just to (account, person): when a person is removed and later invited back, the new
-- membership has a new id and none of the old keys match it again — even a key created while
-- the removal was under way, which the removal's revocation could not see.
ALTER TABLE memberships ADD COLUMN id TEXT;
UPDATE memberships SET id = 'mem_' || account_id || '_' || user_id;
CREATE UNIQUE INDEX memberships_by_id ON memberships (id);

ALTER TABLE api_keys ADD COLUMN membership_id TEXT;
UPDATE api_keys SET membership_id = (
    SELECT m.id FROM memberships m
    WHERE m.account_id = api_keys.account_id AND m.user_id = api_keys.user_id
) WHERE kind = 'user';

-- A key created by a key is its child: it never acts above, nor outlives, its parent, and
-- revoking the parent revokes it (recursively).
ALTER TABLE api_keys ADD COLUMN created_by_key_id TEXT REFERENCES api_keys (id);
CREATE INDEX api_keys_by_parent ON api_keys (created_by_key_id);

-- Sessions started before this time are over: set when the password changes, so every other
-- session of the person ends at once.
ALTER TABLE users ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0;

-- Invites can be withdrawn (the link then answers 404), and remember the key that made them,
-- so that accepting re-checks that whoever invited could still do so.
ALTER TABLE invites ADD COLUMN withdrawn_at BIGINT;
ALTER TABLE invites ADD COLUMN invited_by_key_id TEXT REFERENCES api_keys (id) ON DELETE SET NULL;
CREATE INDEX invites_pending_by_account ON invites (account_id, email);
