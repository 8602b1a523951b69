-- The change log, as in the PostgreSQL schema (see there): recorded by triggers in the
-- transaction that makes the change. SQLite has one writer at a time, so id alone is commit
-- order, for every user's changes (xid is always 0, so that both backends read the log by the
-- same (xid, id) place). AUTOINCREMENT: an id is never reused, even once retention has emptied
-- the table, so a process can poll it for the changes other processes on the same file make.
CREATE TABLE changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No foreign key, as on PostgreSQL; a deleted user's log goes by the trigger below.
    user_id   BLOB    NOT NULL,
    xid       INTEGER NOT NULL DEFAULT 0,
    kind      INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 7),
    object_id INTEGER NOT NULL,
    at        INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE INDEX changes_user_idx ON changes (user_id, xid, id);
CREATE INDEX changes_at_idx ON changes (at);

CREATE TABLE change_floors (
    user_id BLOB    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    xid     INTEGER NOT NULL,
    id      INTEGER NOT NULL
) STRICT;

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
