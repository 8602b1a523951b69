-- Both backends store the same things the same way, so that one set of statements serves both.
--
-- Times: the service binds every time it writes (UTC, whole microseconds), as on SQLite; the
-- triggers that set updated_at go. Each statement that changes a column a client can write (or
-- the successor link) sets updated_at itself; delivering a reminder does not.
DROP TRIGGER users_set_updated_at ON users;
DROP TRIGGER tasks_set_updated_at ON tasks;
DROP FUNCTION set_updated_at();

-- Text compared regardless of case: the service stores a lower-cased copy (*_key, folded one
-- character at a time, as lower() does), compared and sorted by code point (COLLATE "C").
ALTER TABLE tasks
    ADD COLUMN title_key       text COLLATE "C",
    ADD COLUMN description_key text COLLATE "C";
UPDATE tasks SET title_key = lower(title), description_key = lower(description);
ALTER TABLE tasks ALTER COLUMN title_key SET NOT NULL;

ALTER TABLE tags ADD COLUMN name_key text COLLATE "C";
UPDATE tags SET name_key = lower(name);
ALTER TABLE tags ALTER COLUMN name_key SET NOT NULL;

-- Tag names are unique per user regardless of case: by their key, as on SQLite.
DROP INDEX tags_user_name_key;
CREATE UNIQUE INDEX tags_user_name_key ON tags (user_id, name_key);

-- Emails are stored lower-cased (the CHECK says so), so the plain column is the key.
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email);
