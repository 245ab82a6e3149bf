-- Users of the web console (iu-core console). A password is stored only
-- as an argon2id hash (argon2-cffi's encoded form, parameters included). A
-- session is a signed cookie that names the user and the user's session_epoch:
-- raising the epoch (log out, password change, removal) ends every session of
-- that user at once, though the cookies themselves are not stored anywhere.

CREATE TABLE iu_console_user (
    user_name     text PRIMARY KEY
                  CHECK (user_name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    session_epoch integer NOT NULL DEFAULT 0,    -- sessions signed with an older epoch are refused
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
COMMENT ON TABLE iu_console_user IS 'Users of the web console: name and argon2 password hash.';
