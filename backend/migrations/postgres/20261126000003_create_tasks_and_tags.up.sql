-- Tasks, tags and the links between them.
--
-- Ownership is enforced by the schema, not only by code: tasks and tags carry their user_id,
-- and a link carries it too, with composite foreign keys to (id, user_id) on both sides, so a
-- link can only ever join a task and a tag of the same user.

CREATE TABLE tasks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description     text        CHECK (char_length(description) <= 1000),
    completed       boolean     NOT NULL DEFAULT false,
    completed_at    timestamptz,
    -- 0 = low, 1 = medium, 2 = high: the natural order is the sort order.
    priority        smallint    NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    due_date        timestamptz,
    remind_at       timestamptz,
    recurrence_rule text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_id_user_id_key UNIQUE (id, user_id)
);

-- The list queries filter by user and one of these columns, or sort by it.
CREATE INDEX tasks_user_completed_idx ON tasks (user_id, completed);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority);
CREATE INDEX tasks_user_due_date_idx ON tasks (user_id, due_date);
CREATE INDEX tasks_user_created_at_idx ON tasks (user_id, created_at);

CREATE TRIGGER tasks_set_updated_at
    BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE tags (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    color      text        CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_id_user_id_key UNIQUE (id, user_id)
);

-- Tag names are unique per user regardless of case. This index also serves "tags by user_id".
CREATE UNIQUE INDEX tags_user_name_key ON tags (user_id, lower(name));

CREATE TABLE task_tags (
    task_id bigint NOT NULL,
    tag_id  bigint NOT NULL,
    user_id uuid   NOT NULL,
    PRIMARY KEY (task_id, tag_id),
    CONSTRAINT task_tags_task_fkey FOREIGN KEY (task_id, user_id)
        REFERENCES tasks (id, user_id) ON DELETE CASCADE,
    CONSTRAINT task_tags_tag_fkey FOREIGN KEY (tag_id, user_id)
        REFERENCES tags (id, user_id) ON DELETE CASCADE
);

CREATE INDEX task_tags_tag_id_idx ON task_tags (tag_id);
