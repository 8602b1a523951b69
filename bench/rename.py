#!/usr/bin/env python3
"""What renaming a status costs when many tasks carry it.

Starts the given todo-api binary on a fresh database (PostgreSQL by default, or a SQLite file
with --sqlite), registers one user, writes TASKS tasks of their `not_started` status straight
into the database (as bench/seed writes its tasks), then renames that status ROUNDS times through
the API, alternating two names, and prints each rename's wall time and the median. Each rename
is one row's update plus one statement that records a `task.updated` change for every task
that now shows the new name; the tasks' rows are not written.

    bench/rename.py target/dist/todo-api [--tasks 10000] [--rounds 7] [--sqlite]
"""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

PORT = 18940
SERVER = "postgres://postgres@127.0.0.1:5432"


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or "null")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp()
    if args.sqlite:
        url = f"sqlite://{work}/rename.db"
    else:
        name = f"todo_rename_{int(time.time())}"
        subprocess.run(["psql", f"{SERVER}/postgres", "-XqAtc", f'CREATE DATABASE "{name}"'], check=True)
        url = f"{SERVER}/{name}"
    env = dict(os.environ, DATABASE_URL=url, JWT_SECRET_KEY="ab" * 32,
               PORT=str(PORT), HOST="127.0.0.1", RUST_LOG="warn", AUTH_RATE_LIMIT_PER_MINUTE="0")
    server = subprocess.Popen([os.path.abspath(args.binary)], cwd=work, env=env)
    try:
        for _ in range(300):
            try:
                call("GET", "/health")
                break
            except OSError:
                time.sleep(0.1)
        email, password = "rename@example.com", "bench-password-1"
        user = call("POST", "/api/v1/auth/register", {"email": email, "password": password})
        token = call("POST", "/api/v1/auth/login", {"email": email, "password": password})["access_token"]
        base = f"/api/v1/users/{user['id']}"
        status = next(s for s in call("GET", f"{base}/statuses", token=token) if s["name"] == "not_started")
        insert = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) "
            "INSERT INTO tasks (user_id, title, title_key, status_id, priority_id, position, "
            "created_at, updated_at) "
            "SELECT {user}, 'task ' || n, 'task ' || n, {status}, "
            "(SELECT id FROM priorities WHERE user_id = {user} AND is_default), -65536 * n, "
            "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM g"
        )
        if args.sqlite:
            conn = sqlite3.connect(f"{work}/rename.db", timeout=30)
            blob = f"x'{uuid.UUID(user['id']).hex}'"
            conn.execute(insert.format(n=args.tasks, user=blob, status=status["id"]))
            conn.commit()
            conn.close()
        else:
            sql = insert.format(n=args.tasks, user=f"'{user['id']}'::uuid", status=status["id"])
            sql = sql.replace("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < "
                              f"{args.tasks})", f"WITH g(n) AS (SELECT generate_series(1, {args.tasks}))")
            subprocess.run(["psql", url, "-XqAtc", sql + "; ANALYZE"], check=True)
        times = []
        for i in range(args.rounds):
            started = time.perf_counter()
            call("PATCH", f"{base}/statuses/{status['id']}", {"name": f"todo-{i % 2}"}, token)
            times.append((time.perf_counter() - started) * 1000)
        listed = call("GET", f"{base}/tasks?limit=1", token=token)
        assert listed["total"] == args.tasks and listed["items"][0]["status"] == f"todo-{(args.rounds - 1) % 2}"
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"rename of a status on {args.tasks} tasks ({backend}): "
              + ", ".join(f"{t:.0f}" for t in times) + f" ms; median {statistics.median(times):.0f} ms")
    finally:
        server.terminate()
        server.wait()
        if not args.sqlite:
            subprocess.run(["psql", f"{SERVER}/postgres", "-XqAtc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                           check=False)


if __name__ == "__main__":
    sys.exit(main())
