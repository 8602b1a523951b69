-- Each user's own statuses and priorities, a manual order of tasks, and recurring series.
--
-- Statuses and priorities are rows of their own, referred to by id from each task, so that a
-- rename renames them on every task at once. A status has a kind (`done`: false for open, true
-- for done); a task's `completed` is kept equal to its status's kind by every write of the
-- service (the status's kind cannot change), so the filters, the reminder scheduler and their
-- indexes read one column as before. Each user has exactly one default open status, one
-- default done status and one default priority (partial unique indexes), which cannot be
-- deleted. `position` orders a user's statuses and priorities (the priorities' rank). Their
-- rules are CHECK constraints, not domains: these tables are written rarely, and a domain's
-- type would be a new one after this migration is reverted and applied again, which a running
-- service's prepared statements (that answer the names) refuse as a changed result type.
CREATE TABLE statuses (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text          NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    name_key   text          COLLATE "C" NOT NULL,
    color      text          CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    position   integer       NOT NULL,
    done       boolean       NOT NULL,
    is_default boolean       NOT NULL DEFAULT false,
    created_at timestamptz   NOT NULL,
    updated_at timestamptz   NOT NULL,
    CONSTRAINT statuses_id_user_id_key UNIQUE (id, user_id)
);
CREATE UNIQUE INDEX statuses_user_name_key ON statuses (user_id, name_key);
CREATE UNIQUE INDEX statuses_user_default_key ON statuses (user_id, done) WHERE is_default;

CREATE TABLE priorities (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text          NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    name_key   text          COLLATE "C" NOT NULL,
    color      text          CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    position   integer       NOT NULL,
    is_default boolean       NOT NULL DEFAULT false,
    created_at timestamptz   NOT NULL,
    updated_at timestamptz   NOT NULL,
    CONSTRAINT priorities_id_user_id_key UNIQUE (id, user_id)
);
CREATE UNIQUE INDEX priorities_user_name_key ON priorities (user_id, name_key);
CREATE UNIQUE INDEX priorities_user_default_key ON priorities (user_id) WHERE is_default;

-- Every existing account gets the defaults a new one gets.
INSERT INTO statuses (user_id, name, name_key, position, done, is_default, created_at, updated_at)
SELECT u.id, d.name, d.name, d.position, d.done, d.is_default, u.created_at, u.created_at
FROM users u,
     (VALUES ('not_started', 0, false, true), ('in_progress', 1, false, false),
             ('completed', 2, true, true)) AS d (name, position, done, is_default);
INSERT INTO priorities (user_id, name, name_key, position, is_default, created_at, updated_at)
SELECT u.id, d.name, d.name, d.position, d.is_default, u.created_at, u.created_at
FROM users u,
     (VALUES ('low', 0, false), ('medium', 1, true), ('high', 2, false))
         AS d (name, position, is_default);

-- The manual order: a task's place is its `position`, smallest first, ties by id. Positions
-- are spaced (65536 apart) so that a move writes only the moved task's row. A new task goes
-- to the top: its position is the next value of this descending sequence, below every
-- position any task has (moves between two tasks stay between them; moves to the bottom go
-- above the largest), so that concurrent creates never share a position and take no lock.
CREATE SEQUENCE task_positions INCREMENT BY -65536 MAXVALUE -65536 START WITH -65536;

-- series_id: the series' first task, on every later occurrence (the first one's own id is
-- answered for it, see the service); NULL on tasks that are no series' continuation.
ALTER TABLE tasks
    ADD COLUMN status_id   bigint,
    ADD COLUMN priority_id bigint,
    ADD COLUMN position    bigint,
    ADD COLUMN series_id   bigint;

-- Existing tasks keep their completion (the default status of that kind), their priority (by
-- rank), and are ordered as the default list shows them: newest first.
UPDATE tasks t SET
    status_id = (SELECT s.id FROM statuses s
                 WHERE s.user_id = t.user_id AND s.is_default AND s.done = t.completed),
    priority_id = (SELECT p.id FROM priorities p
                   WHERE p.user_id = t.user_id AND p.position = t.priority),
    position = o.position
FROM (SELECT id, -65536 * row_number() OVER (ORDER BY created_at, id) AS position
      FROM tasks) AS o
WHERE o.id = t.id;

-- Existing series: each chain of successors from its first task.
UPDATE tasks t SET series_id = c.root
FROM (WITH RECURSIVE chain (id, root) AS (
          SELECT f.id, f.id FROM tasks f
          WHERE f.successor_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.successor_id = f.id)
          UNION ALL
          SELECT n.successor_id, c.root FROM chain c JOIN tasks n ON n.id = c.id
          WHERE n.successor_id IS NOT NULL
      )
      SELECT id, root FROM chain WHERE id <> root) AS c
WHERE c.id = t.id;

SELECT setval('task_positions', least(-65536, (SELECT min(position) FROM tasks) - 65536), false);

ALTER TABLE tasks
    ALTER COLUMN status_id SET NOT NULL,
    ALTER COLUMN priority_id SET NOT NULL,
    ALTER COLUMN position SET NOT NULL,
    ALTER COLUMN position SET DEFAULT nextval('task_positions'),
    ADD CONSTRAINT tasks_status_fkey FOREIGN KEY (status_id, user_id)
        REFERENCES statuses (id, user_id),
    ADD CONSTRAINT tasks_priority_fkey FOREIGN KEY (priority_id, user_id)
        REFERENCES priorities (id, user_id),
    DROP COLUMN priority;
ALTER SEQUENCE task_positions OWNED BY tasks.position;
DROP DOMAIN task_priority;

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

-- The change log's kinds 8 to 13: status.created, status.updated, status.deleted,
-- priority.created, priority.updated, priority.deleted.
CREATE TRIGGER statuses_record_insert AFTER INSERT ON statuses
    FOR EACH ROW EXECUTE FUNCTION record_new('8');
CREATE TRIGGER statuses_record_update AFTER UPDATE ON statuses
    FOR EACH ROW EXECUTE FUNCTION record_new('9');
CREATE TRIGGER statuses_record_delete AFTER DELETE ON statuses
    FOR EACH ROW EXECUTE FUNCTION record_deletion('10');
CREATE TRIGGER priorities_record_insert AFTER INSERT ON priorities
    FOR EACH ROW EXECUTE FUNCTION record_new('11');
CREATE TRIGGER priorities_record_update AFTER UPDATE ON priorities
    FOR EACH ROW EXECUTE FUNCTION record_new('12');
CREATE TRIGGER priorities_record_delete AFTER DELETE ON priorities
    FOR EACH ROW EXECUTE FUNCTION record_deletion('13');
