DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

DROP INDEX tags_user_name_key;
CREATE UNIQUE INDEX tags_user_name_key ON tags (user_id, lower(name));

ALTER TABLE tags DROP COLUMN name_key;
ALTER TABLE tasks DROP COLUMN title_key, DROP COLUMN description_key;

CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER tasks_set_updated_at
    BEFORE UPDATE OF title, description, completed, completed_at, priority, due_date,
                     remind_at, recurrence_rule, successor_id
    ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
