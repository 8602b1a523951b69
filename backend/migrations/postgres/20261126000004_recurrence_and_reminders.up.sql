-- Reminders and recurrence.
--
-- reminded_at: when the scheduler delivered the task's reminder (NULL: not yet). Claiming a
--   reminder is `UPDATE … SET reminded_at … WHERE reminded_at IS NULL`, so of several server
--   processes exactly one delivers it. Changing remind_at clears it (re-arms the reminder).
-- successor_id / recurred_at: the next occurrence created when this recurring task was
--   completed. recurred_at is set once and never cleared, so an occurrence has at most one
--   successor however often it is completed again, even if the successor is deleted (which
--   clears successor_id).
-- recurrence_start: the due date of the series' first occurrence (the rule's DTSTART), which
--   successors inherit; NULL means this task's own due date. Expanding from it keeps COUNT and
--   a local time that falls in a daylight-saving gap right. Changing the due date or the rule
--   starts a new series (the service clears it).
ALTER TABLE tasks
    ADD COLUMN reminded_at      timestamptz,
    ADD COLUMN successor_id     bigint,
    ADD COLUMN recurred_at      timestamptz,
    ADD COLUMN recurrence_start timestamptz;

-- What the scheduler looks for: armed reminders of open tasks, soonest first.
CREATE INDEX tasks_pending_reminders_idx ON tasks (remind_at)
    WHERE reminded_at IS NULL AND NOT completed AND remind_at IS NOT NULL;

-- Delivering a reminder is not an edit of the task: updated_at moves only when a column a
-- client can write (or the successor link) changes, or when a statement sets it explicitly.
DROP TRIGGER tasks_set_updated_at ON tasks;
CREATE TRIGGER tasks_set_updated_at
    BEFORE UPDATE OF title, description, completed, completed_at, priority, due_date,
                     remind_at, recurrence_rule, successor_id
    ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
