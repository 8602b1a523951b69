DROP TRIGGER tags_record_change ON tags;
DROP TRIGGER tasks_record_change ON tasks;
DROP FUNCTION record_change();
DROP TRIGGER users_forget_changes ON users;
DROP FUNCTION forget_changes();
DROP TABLE change_floors;
DROP TABLE changes;
