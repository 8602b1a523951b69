-- One row per login session; see the PostgreSQL migration for the rotation rules.
CREATE TABLE refresh_sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_jti  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;

CREATE INDEX refresh_sessions_user_id_idx ON refresh_sessions (user_id);
