-- A task's update logged by the two triggers of version 20261130000008 again.
DROP TRIGGER tasks_record_update ON tasks;
DROP FUNCTION record_task_update();
CREATE TRIGGER tasks_record_update AFTER UPDATE ON tasks
    FOR EACH ROW WHEN (OLD.reminded_at IS NOT NULL OR NEW.reminded_at IS NULL)
    EXECUTE FUNCTION record_new('2');
CREATE TRIGGER tasks_record_reminder AFTER UPDATE ON tasks
    FOR EACH ROW WHEN (OLD.reminded_at IS NULL AND NEW.reminded_at IS NOT NULL)
    EXECUTE FUNCTION record_new('7');

-- The rules back as the tables' CHECK constraints, under their former names.
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind BETWEEN 1 AND 7);

ALTER TABLE tags
    ALTER COLUMN name TYPE text,
    ALTER COLUMN color TYPE text,
    ADD CONSTRAINT tags_name_check CHECK (char_length(name) BETWEEN 1 AND 50),
    ADD CONSTRAINT tags_color_check CHECK (color ~ '^#[0-9A-Fa-f]{6}$');

ALTER TABLE tasks
    ALTER COLUMN title TYPE text,
    ALTER COLUMN description TYPE text,
    ALTER COLUMN priority TYPE smallint,
    ADD CONSTRAINT tasks_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
    ADD CONSTRAINT tasks_description_check CHECK (char_length(description) <= 1000),
    ADD CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 0 AND 2);

DROP DOMAIN tag_color;
DROP DOMAIN tag_name;
DROP DOMAIN task_priority;
DROP DOMAIN task_description;
DROP DOMAIN task_title;
