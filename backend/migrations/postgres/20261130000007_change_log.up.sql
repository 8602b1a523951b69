-- The change log: every change to a user's tasks and tags (created, updated, deleted, a
-- reminder delivered), recorded by the database (triggers) in the transaction that makes it,
-- so no path can change a row without it. The event stream and `GET …/changes` read it; NOTIFY
-- only wakes them up.
--
-- A change's place in the log is (xid, id): the writing transaction's id, then the order of
-- writes. Readers take only the rows of transactions older than every transaction still
-- running (pg_snapshot_xmin: those are all finished, and any transaction that commits later has
-- a larger xid), in that order: a reader that has read up to a place has seen everything before
-- it, and nothing committed later can land before it. No writer waits for another: there is no
-- counter to lock. Two writes of one task are ordered as their transactions took the task's row
-- lock, which each of the service's transactions takes (or inserts the row) before any other
-- write.
--
-- kind: 1 task.created, 2 task.updated, 3 task.deleted, 4 tag.created, 5 tag.updated,
--   6 tag.deleted, 7 reminder.
-- object_id: the task's or tag's id. The log holds no copy of the object: a reader answers the
--   object as it is when read.
-- at: when, in Unix seconds, for retention.
-- No foreign key to users: its check would lock the user's row for every change, and one
-- user's concurrent writes would then queue on that lock. A deleted user's log is deleted by
-- the trigger on users below.
CREATE TABLE changes (
    user_id   uuid     NOT NULL,
    xid       bigint   NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id        bigint   GENERATED ALWAYS AS IDENTITY,
    kind      smallint NOT NULL CHECK (kind BETWEEN 1 AND 7),
    object_id bigint   NOT NULL,
    at        bigint   NOT NULL DEFAULT (floor(extract(epoch FROM clock_timestamp()))::bigint),
    PRIMARY KEY (user_id, xid, id)
);

-- Retention deletes the oldest first.
CREATE INDEX changes_at_idx ON changes (at);

-- Where retention has deleted a user's log up to: a reader asking for what came after an
-- earlier place has missed changes.
CREATE TABLE change_floors (
    user_id uuid   PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    xid     bigint NOT NULL,
    id      bigint NOT NULL
);

-- TG_ARGV[0]: 0 for tasks, 3 for tags (added to the kind).
CREATE FUNCTION record_change() RETURNS trigger AS $$
DECLARE
    kind smallint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Not while the user is being deleted: their log goes with them.
        INSERT INTO changes (user_id, kind, object_id)
        SELECT OLD.user_id, 3 + TG_ARGV[0]::smallint, OLD.id
        WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
        RETURN NULL;
    END IF;
    kind := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE 2 END + TG_ARGV[0]::smallint;
    -- The scheduler claiming a task's reminder is the only write that arms reminded_at. (Its
    -- own IF: an expression naming reminded_at fails on a tags row even where it is not run.)
    IF kind = 2 THEN
        IF OLD.reminded_at IS NULL AND NEW.reminded_at IS NOT NULL THEN
            kind := 7;
        END IF;
    END IF;
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, kind, NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION forget_changes() RETURNS trigger AS $$
BEGIN
    DELETE FROM changes WHERE user_id = OLD.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_forget_changes
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION forget_changes();

CREATE TRIGGER tasks_record_change
    AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION record_change('0');

CREATE TRIGGER tags_record_change
    AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION record_change('3');
