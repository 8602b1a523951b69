DROP INDEX tasks_pending_reminders_idx;
ALTER TABLE tasks DROP COLUMN recurrence_start;
ALTER TABLE tasks DROP COLUMN recurred_at;
ALTER TABLE tasks DROP COLUMN successor_id;
ALTER TABLE tasks DROP COLUMN reminded_at;
