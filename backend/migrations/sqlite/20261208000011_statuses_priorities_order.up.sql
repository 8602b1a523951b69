-- Each user's own statuses and priorities, a manual order of tasks, and recurring series (see
-- the PostgreSQL migration of the same version for the design). What differs here:
-- - a column added to an existing table cannot be NOT NULL without a default, nor carry a
--   foreign key to (id, user_id), and one with a foreign key could not be dropped again by
--   the down migration: tasks.status_id and priority_id are plain columns. Every write of them
--   resolves the user's status or priority inside its own transaction, which the single writer
--   keeps from racing a deletion;
-- - there are no sequences: a new task's position is the user's smallest minus 65536, which
--   the single writer makes race-free;
-- - the change log's rule on its kinds is part of its table: the table is rebuilt with 1 to 13.
CREATE TABLE statuses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    name_key   TEXT    NOT NULL,
    color      TEXT    CHECK (color GLOB '#[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]'),
    position   INTEGER NOT NULL,
    done       INTEGER NOT NULL CHECK (done IN (0, 1)),
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    CONSTRAINT statuses_id_user_id_key UNIQUE (id, user_id)
) STRICT;
CREATE UNIQUE INDEX statuses_user_name_key ON statuses (user_id, name_key);
CREATE UNIQUE INDEX statuses_user_default_key ON statuses (user_id, done) WHERE is_default;

CREATE TABLE priorities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    name_key   TEXT    NOT NULL,
    color      TEXT    CHECK (color GLOB '#[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]'),
    position   INTEGER NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    CONSTRAINT priorities_id_user_id_key UNIQUE (id, user_id)
) STRICT;
CREATE UNIQUE INDEX priorities_user_name_key ON priorities (user_id, name_key);
CREATE UNIQUE INDEX priorities_user_default_key ON priorities (user_id) WHERE is_default;

INSERT INTO statuses (user_id, name, name_key, position, done, is_default, created_at, updated_at)
SELECT u.id, d.column1, d.column1, d.column2, d.column3, d.column4, u.created_at, u.created_at
FROM users u,
     (VALUES ('not_started', 0, 0, 1), ('in_progress', 1, 0, 0), ('completed', 2, 1, 1)) AS d;
INSERT INTO priorities (user_id, name, name_key, position, is_default, created_at, updated_at)
SELECT u.id, d.column1, d.column1, d.column2, d.column3, u.created_at, u.created_at
FROM users u, (VALUES ('low', 0, 0), ('medium', 1, 1), ('high', 2, 0)) AS d;

-- The change log with room for the new kinds: same columns, rows, ids and AUTOINCREMENT
-- counter (retention may have deleted rows above the largest id kept).
DROP TRIGGER users_forget_changes;
DROP TRIGGER tasks_record_insert;
DROP TRIGGER tasks_record_update;
DROP TRIGGER tasks_record_delete;
DROP TRIGGER tags_record_insert;
DROP TRIGGER tags_record_update;
DROP TRIGGER tags_record_delete;
CREATE TABLE changes_new (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   BLOB    NOT NULL,
    xid       INTEGER NOT NULL DEFAULT 0,
    kind      INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 13),
    object_id INTEGER NOT NULL,
    at        INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;
INSERT INTO changes_new (id, user_id, xid, kind, object_id, at)
SELECT id, user_id, xid, kind, object_id, at FROM changes;
INSERT OR REPLACE INTO sqlite_sequence (name, seq)
SELECT 'changes_new', seq FROM sqlite_sequence WHERE name = 'changes';
DROP TABLE changes;
ALTER TABLE changes_new RENAME TO changes;
CREATE INDEX changes_user_idx ON changes (user_id, xid, id);
CREATE INDEX changes_at_idx ON changes (at);

CREATE TRIGGER users_forget_changes AFTER DELETE ON users BEGIN
    DELETE FROM changes WHERE user_id = OLD.id;
END;
CREATE TRIGGER tasks_record_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 1, NEW.id);
END;
CREATE TRIGGER tasks_record_update AFTER UPDATE ON tasks BEGIN
    INSERT INTO changes (user_id, kind, object_id)
    VALUES (NEW.user_id,
            CASE WHEN OLD.reminded_at IS NULL AND NEW.reminded_at IS NOT NULL THEN 7 ELSE 2 END,
            NEW.id);
END;
CREATE TRIGGER tasks_record_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO changes (user_id, kind, object_id)
    SELECT OLD.user_id, 3, OLD.id WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
END;
CREATE TRIGGER tags_record_insert AFTER INSERT ON tags BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 4, NEW.id);
END;
CREATE TRIGGER tags_record_update AFTER UPDATE ON tags BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 5, NEW.id);
END;
CREATE TRIGGER tags_record_delete AFTER DELETE ON tags BEGIN
    INSERT INTO changes (user_id, kind, object_id)
    SELECT OLD.user_id, 6, OLD.id WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
END;
CREATE TRIGGER statuses_record_insert AFTER INSERT ON statuses BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 8, NEW.id);
END;
CREATE TRIGGER statuses_record_update AFTER UPDATE ON statuses BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 9, NEW.id);
END;
CREATE TRIGGER statuses_record_delete AFTER DELETE ON statuses BEGIN
    INSERT INTO changes (user_id, kind, object_id)
    SELECT OLD.user_id, 10, OLD.id WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
END;
CREATE TRIGGER priorities_record_insert AFTER INSERT ON priorities BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 11, NEW.id);
END;
CREATE TRIGGER priorities_record_update AFTER UPDATE ON priorities BEGIN
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, 12, NEW.id);
END;
CREATE TRIGGER priorities_record_delete AFTER DELETE ON priorities BEGIN
    INSERT INTO changes (user_id, kind, object_id)
    SELECT OLD.user_id, 13, OLD.id WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
END;

ALTER TABLE tasks ADD COLUMN status_id INTEGER;
ALTER TABLE tasks ADD COLUMN priority_id INTEGER;
ALTER TABLE tasks ADD COLUMN position INTEGER;
ALTER TABLE tasks ADD COLUMN series_id INTEGER;

UPDATE tasks SET
    status_id = (SELECT s.id FROM statuses s
                 WHERE s.user_id = tasks.user_id AND s.is_default AND s.done = tasks.completed),
    priority_id = (SELECT p.id FROM priorities p
                   WHERE p.user_id = tasks.user_id AND p.position = tasks.priority),
    position = o.position
FROM (SELECT id, -65536 * row_number() OVER (PARTITION BY user_id ORDER BY created_at, id)
                 AS position
      FROM tasks) AS o
WHERE o.id = tasks.id;

UPDATE tasks SET series_id = c.root
FROM (WITH RECURSIVE chain (id, root) AS (
          SELECT f.id, f.id FROM tasks f
          WHERE f.successor_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.successor_id = f.id)
          UNION ALL
          SELECT n.successor_id, c.root FROM chain c JOIN tasks n ON n.id = c.id
          WHERE n.successor_id IS NOT NULL
      )
      SELECT id, root FROM chain WHERE id <> root) AS c
WHERE c.id = tasks.id;

DROP INDEX tasks_user_priority_idx;
ALTER TABLE tasks DROP COLUMN priority;

-- A status's tasks in the default list's order (newest first, ties by id), so that a page of
-- one status reads its rows in order and stops after the last (with generic plans the planner
-- cannot tell how many tasks a status has, and with (user_id, status_id) alone it sorted them
-- all), and its count reads this index alone.
CREATE INDEX tasks_user_status_idx ON tasks (user_id, status_id, created_at, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority_id);
-- The manual order exactly as `sort=position` lists it (ties by id): a page reads its rows in
-- order and stops.
CREATE INDEX tasks_user_position_idx ON tasks (user_id, position, id);
CREATE INDEX tasks_user_series_idx ON tasks (user_id, series_id) WHERE series_id IS NOT NULL;
