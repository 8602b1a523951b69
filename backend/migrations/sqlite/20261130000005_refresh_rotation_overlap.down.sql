ALTER TABLE refresh_sessions DROP COLUMN rotated_at;
ALTER TABLE refresh_sessions DROP COLUMN previous_jti;
