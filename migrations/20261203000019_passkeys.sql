-- A person's passkeys (WebAuthn). `credential` is the verified credential as webauthn-rs keeps
-- it (JSON: its id, public key, signature counter and flags): public, no secret. `credential_key`
-- is its id in hex, unique, to find the passkey a browser answered with. `user_handle` is the
-- id the authenticator was given for the person (a keyed hash of theirs, never their email), and
-- a discoverable sign-in must come back with it.
CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    credential_key TEXT NOT NULL UNIQUE,
    user_handle    TEXT NOT NULL,
    credential     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);
