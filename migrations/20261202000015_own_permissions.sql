-- The account's own permissions, for its services behind keyward (`permissions/define`): keys
-- are granted them like keyward's own, and `keys/verify` and forward auth answer for them. A
-- key whose grant is "everything" holds every one its owner's role reaches.
CREATE TABLE own_permissions (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    least_role  TEXT NOT NULL CHECK (least_role IN ('admin', 'read_write', 'read_only')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- The same permissions with their least roles, in the one spelling a key check reads with the
-- key in its one query ("orders:read=read_only orders:write=read_write"): rewritten from the
-- table above in the transaction of every define and undefine.
ALTER TABLE accounts ADD COLUMN own_permission_roles TEXT NOT NULL DEFAULT '';
