DROP TABLE task_tags;
DROP TABLE tags;
DROP TABLE tasks;
