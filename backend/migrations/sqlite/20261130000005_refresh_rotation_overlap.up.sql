-- Rotation overlap: remember the refresh token a rotation just replaced, and when; see the
-- PostgreSQL migration of the same version for the rules.
ALTER TABLE refresh_sessions ADD COLUMN previous_jti BLOB;
ALTER TABLE refresh_sessions ADD COLUMN rotated_at TEXT;
