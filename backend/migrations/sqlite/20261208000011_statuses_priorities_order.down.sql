-- Back to three fixed priorities and completion alone (see the PostgreSQL migration's down).
-- The change log keeps its wider rule on kinds; its entries of kinds 8 to 13 go.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2);
UPDATE tasks SET priority = (SELECT CASE p.name_key WHEN 'low' THEN 0 WHEN 'high' THEN 2 ELSE 1 END
                             FROM priorities p WHERE p.id = tasks.priority_id)
WHERE priority_id IS NOT NULL;
DROP INDEX tasks_user_series_idx;
DROP INDEX tasks_user_position_idx;
DROP INDEX tasks_user_priority_idx;
DROP INDEX tasks_user_status_idx;
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority);
ALTER TABLE tasks DROP COLUMN status_id;
ALTER TABLE tasks DROP COLUMN priority_id;
ALTER TABLE tasks DROP COLUMN position;
ALTER TABLE tasks DROP COLUMN series_id;
DROP TRIGGER statuses_record_insert;
DROP TRIGGER statuses_record_update;
DROP TRIGGER statuses_record_delete;
DROP TRIGGER priorities_record_insert;
DROP TRIGGER priorities_record_update;
DROP TRIGGER priorities_record_delete;
DROP TABLE statuses;
DROP TABLE priorities;
DELETE FROM changes WHERE kind > 7;
