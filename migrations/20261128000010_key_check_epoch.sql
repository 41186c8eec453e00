-- A counter that every change to how a key checks out moves, in the transaction that makes
-- the change: a revocation, a rotation, a key's guards, a member's role or removal, the key
-- policy. Each instance reads it a few times a second and forgets the keys it has verified
-- when it moves (see src/server/key_cache.rs). One row, so there is one thing to read.
CREATE TABLE key_check_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO key_check_epoch (id, epoch) VALUES (1, 0);
