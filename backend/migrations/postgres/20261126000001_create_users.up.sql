-- Accounts. Emails are stored trimmed and lower-cased by the service; the unique index on
-- lower(email) states the case-insensitive rule in the schema too, so two concurrent sign-ups
-- with the same address cannot both succeed whatever their spelling.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL CHECK (email = lower(btrim(email)) AND email <> ''),
    password_hash text        NOT NULL,
    name          text        CHECK (char_length(name) <= 100),
    timezone      text        NOT NULL DEFAULT 'UTC',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- updated_at changes on every write, whoever writes.
CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
