-- Back to three fixed priorities and completion alone. A task keeps its completion; its
-- priority becomes low, medium or high by name, and any other (a user's own) becomes medium.
-- The manual order and series ids are dropped, and the log's entries of kinds 8 to 13 (which
-- the version before cannot read) go.
CREATE DOMAIN task_priority AS smallint CHECK (VALUE BETWEEN 0 AND 2);
ALTER TABLE tasks ADD COLUMN priority task_priority NOT NULL DEFAULT 1;
UPDATE tasks t SET priority = CASE p.name_key WHEN 'low' THEN 0 WHEN 'high' THEN 2 ELSE 1 END
FROM priorities p WHERE p.id = t.priority_id;
CREATE INDEX tasks_user_priority_level_idx ON tasks (user_id, priority);

DROP INDEX tasks_user_series_idx;
DROP INDEX tasks_user_position_idx;
DROP INDEX tasks_user_priority_idx;
DROP INDEX tasks_user_status_idx;
ALTER INDEX tasks_user_priority_level_idx RENAME TO tasks_user_priority_idx;
ALTER TABLE tasks
    DROP COLUMN status_id,
    DROP COLUMN priority_id,
    DROP COLUMN position,
    DROP COLUMN series_id;
DROP SEQUENCE IF EXISTS task_positions;

DROP TABLE statuses;
DROP TABLE priorities;
DELETE FROM changes WHERE kind > 7;
