-- Tasks, tags and the links between them, with the PostgreSQL schema's rules: rows carry
-- their user_id, and links have composite foreign keys to (id, user_id) on both sides, so a
-- link can only join a task and a tag of the same user.
--
-- SQLite's lower() folds only ASCII, so the service stores a Unicode lower-cased copy of the
-- texts that are compared regardless of case (*_key): titles sort and search by title_key,
-- tag names are unique per user by name_key.
-- AUTOINCREMENT keeps ids of deleted rows from being reused, as PostgreSQL identities do.

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    title_key       TEXT    NOT NULL,
    description     TEXT    CHECK (length(description) <= 1000),
    description_key TEXT,
    completed       INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    completed_at    TEXT,
    -- 0 = low, 1 = medium, 2 = high: the natural order is the sort order.
    priority        INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    due_date        TEXT,
    remind_at       TEXT,
    recurrence_rule TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT tasks_id_user_id_key UNIQUE (id, user_id)
) STRICT;

CREATE INDEX tasks_user_completed_idx ON tasks (user_id, completed);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority);
CREATE INDEX tasks_user_due_date_idx ON tasks (user_id, due_date);
CREATE INDEX tasks_user_created_at_idx ON tasks (user_id, created_at);

CREATE TABLE tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    name_key   TEXT NOT NULL,
    color      TEXT CHECK (color GLOB '#[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]'),
    created_at TEXT NOT NULL,
    CONSTRAINT tags_id_user_id_key UNIQUE (id, user_id)
) STRICT;

-- Tag names are unique per user regardless of case. This index also serves "tags by user_id".
CREATE UNIQUE INDEX tags_user_name_key ON tags (user_id, name_key);

CREATE TABLE task_tags (
    task_id INTEGER NOT NULL,
    tag_id  INTEGER NOT NULL,
    user_id BLOB    NOT NULL,
    PRIMARY KEY (task_id, tag_id),
    CONSTRAINT task_tags_task_fkey FOREIGN KEY (task_id, user_id)
        REFERENCES tasks (id, user_id) ON DELETE CASCADE,
    CONSTRAINT task_tags_tag_fkey FOREIGN KEY (tag_id, user_id)
        REFERENCES tags (id, user_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX task_tags_tag_id_idx ON task_tags (tag_id);
