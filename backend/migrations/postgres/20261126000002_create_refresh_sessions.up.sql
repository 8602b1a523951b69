-- One row per login session. A refresh token names its session (sid) and its own id (jti);
-- only the session's current jti may be exchanged, and each exchange swaps in a new one
-- (rotation). Presenting an older jti means the token was copied: the whole session is revoked.
-- Access tokens name the session too, so revoking it (logout, password change) ends them at once.
CREATE TABLE refresh_sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_jti  uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);

CREATE INDEX refresh_sessions_user_id_idx ON refresh_sessions (user_id);
