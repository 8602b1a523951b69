DROP TRIGGER tasks_set_updated_at ON tasks;
CREATE TRIGGER tasks_set_updated_at
    BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
DROP INDEX tasks_pending_reminders_idx;
ALTER TABLE tasks
    DROP COLUMN reminded_at,
    DROP COLUMN successor_id,
    DROP COLUMN recurred_at,
    DROP COLUMN recurrence_start;
