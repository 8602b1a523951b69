-- Reminders and recurrence; see the PostgreSQL migration for the meaning of each column.
-- (No foreign key on successor_id, as on PostgreSQL: the delete statement clears it.)
ALTER TABLE tasks ADD COLUMN reminded_at TEXT;
ALTER TABLE tasks ADD COLUMN successor_id INTEGER;
ALTER TABLE tasks ADD COLUMN recurred_at TEXT;
ALTER TABLE tasks ADD COLUMN recurrence_start TEXT;

CREATE INDEX tasks_pending_reminders_idx ON tasks (remind_at)
    WHERE reminded_at IS NULL AND NOT completed AND remind_at IS NOT NULL;
