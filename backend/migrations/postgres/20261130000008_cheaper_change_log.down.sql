DROP TRIGGER tags_record_delete ON tags;
DROP TRIGGER tags_record_update ON tags;
DROP TRIGGER tags_record_insert ON tags;
DROP TRIGGER tasks_record_delete ON tasks;
DROP TRIGGER tasks_record_reminder ON tasks;
DROP TRIGGER tasks_record_update ON tasks;
DROP TRIGGER tasks_record_insert ON tasks;
DROP FUNCTION record_deletion();
DROP FUNCTION record_new();

ALTER TABLE changes ALTER COLUMN id SET CACHE 1;

-- As change_log made it.
CREATE FUNCTION record_change() RETURNS trigger AS $$
DECLARE
    kind smallint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (user_id, kind, object_id)
        SELECT OLD.user_id, 3 + TG_ARGV[0]::smallint, OLD.id
        WHERE EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id);
        RETURN NULL;
    END IF;
    kind := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE 2 END + TG_ARGV[0]::smallint;
    IF kind = 2 THEN
        IF OLD.reminded_at IS NULL AND NEW.reminded_at IS NOT NULL THEN
            kind := 7;
        END IF;
    END IF;
    INSERT INTO changes (user_id, kind, object_id) VALUES (NEW.user_id, kind, NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_record_change
    AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION record_change('0');

CREATE TRIGGER tags_record_change
    AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION record_change('3');
