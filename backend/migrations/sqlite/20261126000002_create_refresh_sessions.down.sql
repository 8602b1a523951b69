DROP TABLE refresh_sessions;
