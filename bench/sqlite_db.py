#!/usr/bin/env python3
"""What bench/seed, bench/run and bench/ab do to a SQLite database directly, with the service
running on the same file (WAL mode; every statement here waits for the service's writer, as any
other program on the file does).

  sqlite_db.py seed FILE          the bulk of bench/seed's data, for users already registered
                                  through the API: the same rows as the PostgreSQL seed, then
                                  prints one line per user: "<email> <user_id> <50 lowest task
                                  ids>"
  sqlite_db.py delete-created FILE
                                  deletes the tasks create's wrk runs made ('bench task …')
  sqlite_db.py checkpoint FILE …  PRAGMA wal_checkpoint(TRUNCATE) on each file: its WAL written
                                  back into the database, synced, and emptied
  sqlite_db.py changes FILE USER_ID
                                  prints the user's number of changes and their newest place
                                  ("<count> <xid>.<id>"), for bench/catchup.py

FILE may also be a DATABASE_URL (sqlite://path, sqlite:///absolute/path).
"""

import datetime
import sqlite3
import sys
import time
import uuid

# The service's rule for stored times: UTC, fixed width, microseconds.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# The PostgreSQL seed (bench/seed) in SQLite's terms, row for row: the same users, tags, tasks
# and links (a task's tag: the (id % 5)-th of its user's tags by id, where PostgreSQL says
# OFFSET id % 5, which SQLite cannot correlate), in the same order, so a fresh database gives
# every row the same id on both backends, each user's tasks contiguous. bench_time(seconds) is
# the seed's start ("now", one instant for every row, as PostgreSQL's now() is in one
# transaction) plus that many seconds. The case keys are first written as the plain text and
# then set by an UPDATE, as the PostgreSQL seed fills them after the rows: the change log's
# triggers then record an insert and an update per task and tag on both backends (20,040
# changes for the user with 10,000 tasks), and the catch-up streams the same log.
SEED = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20)
INSERT INTO tags (user_id, name, name_key, color, created_at)
SELECT u.id, 'tag-' || g.n, 'tag-' || g.n, printf('#%06x', (g.n * 2654435) % 16777215),
       bench_time(0)
FROM users u JOIN g ON g.n <= CASE WHEN u.email = 'bench-0@example.com' THEN 20 ELSE 5 END
ORDER BY u.rowid, g.n;

WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 10000)
INSERT INTO tasks (user_id, title, title_key, description, description_key, completed,
                   completed_at, priority, due_date, created_at, updated_at)
SELECT u.id, s.title, s.title, s.description, s.description,
       s.n % 4 = 0, CASE WHEN s.n % 4 = 0 THEN bench_time(0) END,
       s.n * 7 % 3,
       CASE WHEN s.n % 5 <> 0 THEN bench_time(((s.n % 90) - 30) * 86400) END,
       bench_time(-s.n * 60), bench_time(-s.n * 60)
FROM users u
JOIN (SELECT n,
             'Task ' || n || ': ' || CASE n % 5 WHEN 0 THEN 'write the report'
                                                WHEN 1 THEN 'groceries'
                                                WHEN 2 THEN 'call the bank'
                                                WHEN 3 THEN 'fix the bike'
                                                ELSE 'plan the trip' END AS title,
             CASE WHEN n % 3 = 0 THEN 'Details of task ' || n END AS description
      FROM g) s ON s.n <= CASE WHEN u.email = 'bench-0@example.com' THEN 10000 ELSE 200 END
ORDER BY u.rowid, s.n;

INSERT INTO task_tags (task_id, tag_id, user_id)
SELECT t.id, tg.id, t.user_id
FROM tasks t
JOIN (SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY id) - 1 AS place
      FROM tags) tg ON tg.user_id = t.user_id AND tg.place = t.id % 5
WHERE t.id % 3 <> 0
ORDER BY t.id;

UPDATE tags SET name_key = lower(name);
UPDATE tasks SET title_key = lower(title), description_key = lower(description);
"""


def path_of(file_or_url: str) -> str:
    """The file a sqlite: DATABASE_URL names (sqlx's reading: everything after sqlite:// or
    sqlite:, up to a ?), or the argument itself."""
    path = file_or_url
    if path.startswith("sqlite:"):
        path = path[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]
        path = path.split("?", 1)[0]
    return path


def connect(file_or_url: str) -> sqlite3.Connection:
    path = path_of(file_or_url)
    # mode=rw: a mistyped path fails instead of creating an empty database.
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def seed(file_or_url: str) -> None:
    conn = connect(file_or_url)
    start = datetime.datetime.now(datetime.timezone.utc)

    def bench_time(seconds: int) -> str:
        return (start + datetime.timedelta(seconds=seconds)).strftime(TIME_FORMAT)

    conn.create_function("bench_time", 1, bench_time, deterministic=True)
    registered = conn.execute(
        "SELECT count(*) FROM users WHERE email LIKE 'bench-%@example.com'").fetchone()[0]
    if registered != 100:
        sys.exit(f"sqlite_db.py: expected the 100 bench users to be registered, found {registered}")
    seed_sql = SEED
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'statuses'").fetchone():
        # Schema version 11 on: the same tasks, their completion and level as the user's
        # default status of that kind and priority of that rank, each new one above the others
        # in the manual order.
        seed_sql = seed_sql.replace(
            "completed_at, priority, due_date, created_at, updated_at)",
            "completed_at, status_id, priority_id, position, due_date, created_at, updated_at)",
        ).replace(
            "       s.n * 7 % 3,\n",
            "       (SELECT st.id FROM statuses st WHERE st.user_id = u.id AND st.is_default\n"
            "          AND st.done = (s.n % 4 = 0)),\n"
            "       (SELECT p.id FROM priorities p WHERE p.user_id = u.id\n"
            "          AND p.position = s.n * 7 % 3),\n"
            "       -65536 * s.n,\n",
        )
    conn.execute("BEGIN IMMEDIATE")
    for statement in seed_sql.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("COMMIT")
    # No ANALYZE: the service never runs it on SQLite (no sqlite_stat1), so the plans measured
    # are the ones a deployment gets.
    for email, user_id in conn.execute("SELECT email, id FROM users ORDER BY rowid"):
        ids = [str(row[0]) for row in conn.execute(
            "SELECT id FROM tasks WHERE user_id = ? ORDER BY id LIMIT 50", (user_id,))]
        print(email, uuid.UUID(bytes=user_id), " ".join(ids))


def delete_created(file_or_url: str) -> None:
    connect(file_or_url).execute("DELETE FROM tasks WHERE title LIKE 'bench task%'")


def checkpoint(files: list[str]) -> None:
    for file_or_url in files:
        conn = connect(file_or_url)
        # Busy at once, without waiting, while the service's own automatic checkpoint (after a
        # commit that filled the WAL past 1,000 pages) is still running: try again shortly.
        deadline = time.monotonic() + 30
        while conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
            if time.monotonic() > deadline:
                print(f"sqlite_db.py: warning: the checkpoint of {path_of(file_or_url)} could "
                      "not finish in 30 s (a reader or writer kept it busy)", file=sys.stderr)
                break
            time.sleep(0.02)


def changes(file_or_url: str, user_id: str) -> None:
    count, last = connect(file_or_url).execute(
        "SELECT count(*), (SELECT xid || '.' || id FROM changes WHERE user_id = ?1"
        " ORDER BY xid DESC, id DESC LIMIT 1) FROM changes WHERE user_id = ?1",
        (uuid.UUID(user_id).bytes,)).fetchone()
    print(count, last)


def main() -> None:
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "seed":
        seed(args[1])
    elif len(args) == 2 and args[0] == "delete-created":
        delete_created(args[1])
    elif len(args) >= 2 and args[0] == "checkpoint":
        checkpoint(args[1:])
    elif len(args) == 3 and args[0] == "changes":
        changes(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
