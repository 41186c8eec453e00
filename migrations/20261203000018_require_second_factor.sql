-- The account policy `require_second_factor`: a member without a second factor signed in to
-- this account may only set one up (and manage their own sign-in) until they have one.
ALTER TABLE accounts ADD COLUMN require_second_factor BIGINT NOT NULL DEFAULT 0;
