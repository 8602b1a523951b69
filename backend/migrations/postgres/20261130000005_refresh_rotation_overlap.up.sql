-- Rotation overlap: remember the refresh token a rotation just replaced, and when.
--
-- Two tabs refreshing with one cookie race: one rotates, the other presents the token it had,
-- which has just been superseded. Within REFRESH_REUSE_GRACE_SECS of rotated_at, presenting
-- previous_jti is answered with the session's current token (signed again from current_jti,
-- rotated_at and expires_at: byte for byte the one the winner got) instead of counting as
-- theft. Any other old token, or
-- previous_jti after the window, still revokes the session.
--
-- previous_jti: the jti the latest rotation replaced (NULL: never rotated).
-- rotated_at:   when current_jti was issued by a rotation; its whole seconds are the current
--               token's iat (NULL: never rotated).
ALTER TABLE refresh_sessions
    ADD COLUMN previous_jti uuid,
    ADD COLUMN rotated_at   timestamptz;
