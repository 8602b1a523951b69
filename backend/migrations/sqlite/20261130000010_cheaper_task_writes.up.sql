-- Nothing on SQLite: this version makes PostgreSQL's writes of tasks and tags cheaper (column
-- rules as domains, which PostgreSQL checks without parsing them again for every statement, and
-- one change-log trigger for a task's update). SQLite compiles a table's CHECK constraints and
-- its triggers into each prepared statement once. Kept so both backends number their versions
-- alike.
SELECT 1;
