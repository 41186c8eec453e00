-- A person's authenticator app (TOTP). No secret is stored: the secret is derived from the
-- server's pepper and `secret_salt` (random), so the database alone cannot compute a code.
-- `confirmed_at` is NULL while an enrolment waits for its first code; until then the factor
-- does not count. `last_used_step` makes each code work once: a code is taken only for a
-- later 30-second step than the last one used.
CREATE TABLE totp_factors (
    user_id        TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_salt    TEXT NOT NULL,
    confirmed_at   BIGINT,
    last_used_step BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

-- Recovery codes, as keyed hashes; each works once (`used_at`).
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
