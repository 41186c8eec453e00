-- Instances that share the database (PostgreSQL), each with its last heartbeat by the
-- database's clock: a change to key checks waits for the acknowledgement of every live one
-- (see src/server/peers.rs).
CREATE TABLE key_check_instances (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
