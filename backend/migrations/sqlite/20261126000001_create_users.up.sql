-- Accounts, as in the PostgreSQL schema. Conventions of the SQLite schema:
-- - ids of users and sessions are UUIDs stored as 16-byte blobs;
-- - timestamps are UTC text, always 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so comparing
--   the text compares the times), written by the service with microsecond precision;
-- - booleans are 0/1; tables are STRICT, so a value of the wrong type is refused.
-- Emails are stored trimmed and lower-cased by the service (Unicode-aware), so a plain unique
-- index makes them case-insensitively unique.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL CHECK (email = lower(trim(email)) AND email <> ''),
    password_hash TEXT NOT NULL,
    name          TEXT CHECK (length(name) <= 100),
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_email_key ON users (email);
