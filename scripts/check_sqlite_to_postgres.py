#!/usr/bin/env python3
"""The checks (read the header of scripts/check-sqlite-to-postgres first)."""

import collections
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse
from datetime import datetime, timedelta, timezone

import http_checks
from http_checks import CheckFailed, expect, log

BIN = os.environ["S2P_BIN"]
WORK = os.environ["S2P_WORK"]
PG_URL = os.environ["S2P_PG_URL"]
COPY = os.environ["S2P_COPY"]
SQLITE_FILE = os.path.join(WORK, "todo.db")
API = "/api/v1"
START = time.monotonic()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = free_port()
# One key for both runs: tokens issued on SQLite must verify on PostgreSQL.
SETTINGS = {
    "APP_ENV": "development",
    "JWT_SECRET_KEY": secrets.token_hex(32),
    "HOST": "127.0.0.1",
    "PORT": str(PORT),
    "RUST_LOG": "warn",
    # Sign-ins are counted by these checks, not limited.
    "AUTH_RATE_LIMIT_PER_MINUTE": "0",
    # The longest overlap, so that the token a rotation superseded on SQLite is still within it
    # on PostgreSQL.
    "REFRESH_REUSE_GRACE_SECS": "60",
}

# ---------------------------------------------------------------------------------------------
# HTTP


def call(method, path, body=None, token=None, headers=None):
    """One request to the service (http_checks.call), its path percent-encoded (searches and
    tag names here are not ASCII)."""
    path = urllib.parse.quote(path, safe="/?&=%:+,")
    return http_checks.call(method, path, PORT, body, token, headers)


def ok(answer, status, what):
    expect(answer.status == status, f"{what}: expected {status}, got {answer}")
    return answer.json()


def iso(at):
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(self, name, database_url):
        self.name = name
        self.database_url = database_url
        self.log = os.path.join(WORK, f"{name}.log")
        self.pidfile = os.path.join(WORK, "server.pid")
        self.proc = None

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("S2P_")}
        env.update(SETTINGS, DATABASE_URL=self.database_url)
        with open(self.log, "ab") as out:
            # cwd: the work directory, so that no .env of the repository is read.
            self.proc = subprocess.Popen([BIN, "serve"], env=env, cwd=WORK, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        with open(self.pidfile, "w") as pidfile:
            pidfile.write(str(self.proc.pid))
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise CheckFailed(f"the server on {self.name} exited with status {self.proc.returncode}")
            try:
                if call("GET", "/health/ready").status == 200:
                    break
            except OSError:
                pass
            expect(time.monotonic() < deadline, f"the server on {self.name} was not ready within 20 s")
            time.sleep(0.05)
        log(f"  todo-api serve on {self.name}, port {PORT}: ready")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise CheckFailed(f"the server on {self.name} did not stop within 15 s of SIGTERM")
        finally:
            if self.proc.poll() is not None and os.path.exists(self.pidfile):
                os.unlink(self.pidfile)
        expect(status == 0, f"the server on {self.name} exited with status {status} on SIGTERM")


# ---------------------------------------------------------------------------------------------
# Users and their data


class User:
    def __init__(self, label, email, password):
        self.label = label
        self.email = email
        self.password = password
        self.id = None
        self.token = None
        self.tags = {}   # label -> id
        self.tasks = {}  # label -> id

    def path(self, rest=""):
        return f"{API}/users/{self.id}{rest}"

    def register(self, name):
        body = ok(call("POST", f"{API}/auth/register",
                       {"email": self.email, "password": self.password, "name": name}),
                  201, f"{self.label}: register")
        self.id = body["id"]
        return body

    def login(self, email=None):
        answer = call("POST", f"{API}/auth/login", {"email": email or self.email, "password": self.password})
        body = ok(answer, 200, f"{self.label}: login")
        refresh = answer.cookie("refresh_token")
        expect(refresh, f"{self.label}: login set no refresh_token cookie")
        self.token = body["access_token"]
        return body["access_token"], refresh

    def get(self, rest):
        return call("GET", self.path(rest), token=self.token)

    def post(self, rest, body=None, status=201, what=None):
        return ok(call("POST", self.path(rest), body, token=self.token), status,
                  f"{self.label}: {what or 'POST ' + rest}")

    def patch(self, rest, body=None, status=200, what=None):
        return ok(call("PATCH", self.path(rest), body, token=self.token), status,
                  f"{self.label}: {what or 'PATCH ' + rest}")

    def delete(self, rest, what=None):
        ok(call("DELETE", self.path(rest), token=self.token), 204, f"{self.label}: {what or 'DELETE ' + rest}")

    def tag(self, label, name, color=None):
        self.tags[label] = self.post("/tags", {"name": name, "color": color}, what=f"create tag {name!r}")["id"]
        return self.tags[label]

    def task(self, label, **fields):
        fields["tag_ids"] = [self.tags[t] for t in fields.get("tag_ids", [])]
        self.tasks[label] = self.post("/tasks", fields, what=f"create task {fields['title']!r}")["id"]
        return self.tasks[label]

    def changes(self, since=None, limit=1000):
        query = f"?limit={limit}" + (f"&since={since}" if since is not None else "")
        return call("GET", self.path(f"/changes{query}"), token=self.token)

    def all_changes(self, since):
        changes = []
        while True:
            page = ok(self.changes(since), 200, f"{self.label}: GET …/changes?since={since}")
            changes.extend(page["changes"])
            since = page["cursor"]
            if not page["has_more"]:
                return changes, since

    def changes_until(self, since, done, timeout=10):
        """The changes after `since`, read again until `done(changes)`: on PostgreSQL a change
        is answered once every older transaction on the server has ended, so a test run beside
        others may see it a moment later."""
        deadline = time.monotonic() + timeout
        changes, cursor = [], since
        while True:
            more, cursor = self.all_changes(cursor)
            changes += more
            if done(changes) or time.monotonic() > deadline:
                return changes, cursor
            time.sleep(0.1)


ADA = User("ada", "  Zoë.Ada@Example.COM ", "ada's-long-password")
BOB = User("bob", "bob@example.com", "bob's-long-password")
USERS = (ADA, BOB)


def make_data():
    """Phase 1's writes, on SQLite. Returns what phase 3 checks beyond the listings."""
    kept = {}
    ada = ADA.register("Ada")
    expect(ada["email"] == "zoë.ada@example.com", f"ada's email not stored trimmed and lower-cased: {ada}")
    BOB.register(None)
    ADA.login()
    ADA.patch("", {"timezone": "Europe/Berlin"}, what="set the time zone")
    # Ada's first session is rotated once: refresh_1 is superseded by refresh_2.
    _, refresh_1 = ADA.login()
    answer = call("POST", f"{API}/auth/refresh", headers={"Cookie": f"refresh_token={refresh_1}"})
    body = ok(answer, 200, "ada: refresh")
    kept["ada_refresh_superseded"] = refresh_1
    kept["ada_refresh_current"] = answer.cookie("refresh_token")
    kept["ada_access"] = body["access_token"]
    ADA.token = body["access_token"]
    # Bob: a live session, and one signed out.
    bob_access, kept["bob_refresh_live"] = BOB.login()
    _, gone = BOB.login()
    BOB.token = bob_access
    ok(call("POST", f"{API}/auth/logout", headers={"Cookie": f"refresh_token={gone}"}), 200, "bob: logout")
    kept["bob_refresh_revoked"] = gone

    ADA.tag("home", "Home", "#33AA55")
    ADA.tag("ecole", "ÉCOLE")
    ADA.tag("work", "work", "#112233")
    ADA.tag("errands", "zzz to rename", "#ABCDEF")
    ADA.patch(f"/tags/{ADA.tags['errands']}", {"name": "Errands"}, what="rename a tag")
    BOB.tag("home", "home", "#00AA55")
    BOB.tag("bike", "Bike")

    ADA.task("plants", title="Water the plants", description="Twice a WEEK: the Ficus and the Ölbaum",
             priority="high", due_date="2030-05-01T09:00:00+02:00", tag_ids=["home", "work"])
    ADA.task("report", title="Écrire le RAPPORT annuel", description="Mixed Case: le Bilan de l'ÉTÉ",
             priority="medium")
    # Daily at 09:00 in Berlin from the day before summer time starts; COUNT=2: two occurrences.
    ADA.task("standup", title="Daily stand-up", due_date="2030-03-30T08:00:00Z",
             remind_at="2030-03-30T07:45:00Z", recurrence_rule="FREQ=DAILY;COUNT=2", tag_ids=["work"])
    standup = ADA.patch(f"/tasks/{ADA.tasks['standup']}/complete", what="complete the recurring task")
    expect(standup["completed"] and standup["successor_id"],
           f"completing the recurring task made no successor: {standup}")
    ADA.tasks["standup_next"] = standup["successor_id"]
    ADA.task("izmir", title="Call the İzmir office", priority="low", tag_ids=["ecole"],
             remind_at=iso(datetime.now(timezone.utc) - timedelta(minutes=1)))
    ADA.task("ancient", title="ancient history", due_date="0000-06-15T12:00:00.123456Z", priority="low")
    ADA.task("end", title="End of time", due_date="9999-12-31T23:59:59.999999Z", tag_ids=["errands"])
    ADA.task("sale", title="50%_OFF\\ sale", description=None)
    ADA.task("done", title="Already done", completed=True, tag_ids=["home", "ecole", "errands"])
    ADA.patch(f"/tasks/{ADA.tasks['plants']}", {"description": "Twice a WEEK: the Ficus and the Ölbaum (not the cactus)"},
              what="edit a task")
    BOB.task("milk", title="Buy MILK", tag_ids=["home"], due_date="2030-01-01T00:00:00Z")
    BOB.task("bike", title="Fix the bike", description="Chain and BRAKES", tag_ids=["bike", "home"])
    BOB.patch(f"/tasks/{BOB.tasks['milk']}/complete", what="complete a task")
    # Own statuses and priorities, a renamed default, and a manual order.
    waiting = ADA.post("/statuses", {"name": "Waiting", "kind": "open", "color": "#FFAA00", "position": 1},
                       what="create a status")["id"]
    ADA.post("/priorities", {"name": "urgent", "position": 3, "is_default": True}, what="create a priority")
    statuses = {s["name"]: s["id"] for s in ok(ADA.get("/statuses"), 200, "ada: statuses")}
    ADA.patch(f"/statuses/{statuses['in_progress']}", {"name": "Doing"}, what="rename a status")
    ADA.patch(f"/tasks/{ADA.tasks['report']}", {"status": "Waiting", "priority": "urgent"},
              what="give a task the new status and priority")
    ADA.patch(f"/tasks/{ADA.tasks['sale']}", {"status": "Doing"}, what="a renamed status")
    ADA.post(f"/tasks/{ADA.tasks['plants']}/move", {"to": "top"}, status=200, what="move a task")
    ADA.post("/tasks/reorder", {"task_ids": [ADA.tasks["sale"], ADA.tasks["izmir"]]}, status=200,
             what="reorder tasks")
    kept["waiting"] = waiting
    # The highest ids SQLite hands out go to a task and a tag that are deleted: ids continue after them.
    ADA.tag("trash", "Trash")
    ADA.task("deleted", title="Delete me", tag_ids=["home", "trash"])
    kept["max_task"], kept["max_tag"] = ADA.tasks.pop("deleted"), ADA.tags.pop("trash")
    ADA.delete(f"/tasks/{kept['max_task']}", "delete a task")
    ADA.delete(f"/tags/{kept['max_tag']}", "delete a tag")
    every = [i for u in USERS for i in u.tasks.values()], [i for u in USERS for i in u.tags.values()]
    expect(kept["max_task"] > max(every[0]) and kept["max_tag"] > max(every[1]),
           "the deleted task and tag should hold the highest ids")

    # The reminder: delivered by the scheduler (once a second).
    izmir = ADA.tasks["izmir"]
    deadline = time.monotonic() + 10
    while True:
        task = ok(ADA.get(f"/tasks/{izmir}"), 200, "ada: the reminder's task")
        if task["reminded_at"]:
            break
        expect(time.monotonic() < deadline, "the reminder in the past was not delivered within 10 s")
        time.sleep(0.1)
    reminders = [c for c in ADA.all_changes("0")[0] if c["type"] == "reminder"]
    expect([c["id"] for c in reminders] == [izmir], f"expected one reminder change for task {izmir}: {reminders}")
    log(f"  reminder of task {izmir} delivered at {task['reminded_at']}")
    kept["reminded_at"] = task["reminded_at"]

    for user in USERS:
        end = ok(user.changes(), 200, f"{user.label}: the /changes cursor")["cursor"]
        first = ok(user.changes("0", limit=1), 200, f"{user.label}: the first change")["changes"][0]["cursor"]
        for cursor in (end, first):
            expect(re.fullmatch(r"0\.\d+-[0-9a-f]{8}", cursor), f"{user.label}: not a SQLite cursor: {cursor}")
        kept[f"{user.label}_cursors"] = (first, end)
    return kept


def listings(user):
    """Every read whose answer must survive the copy exactly: path -> (status, body)."""
    paths = []
    sorts = ["", "title", "-title", "due_date", "-due_date", "priority", "-priority",
             "created_at", "updated_at", "-updated_at", "position", "-position", "status"]
    for sort in sorts:
        paths.append(f"/tasks?limit=3&sort={sort}" if sort else "/tasks?limit=3")
    filters = ["status=completed", "status=pending", "priority=low", "overdue=true",
               "status=Waiting", "status=Doing", "priority=urgent",
               "due_before=2030-06-01T00:00:00Z", "due_after=1000-01-01T00:00:00Z",
               # case keys: tag names, titles and descriptions in another case
               "tag=HOME", "tag=école", "tag=ERRANDS", "q=rapport", "q=ÖLBAUM", "q=izmir", "q=week",
               "q=%C3%A9t%C3%A9", "q=brakes", "q=milk", "q=50%25_off", "q=_OFF%5C", "q=nothing"]
    paths += [f"/tasks?limit=100&{f}&sort=title" for f in filters]
    paths += ["/tags", "/reminders", "/reminders?before=2031-01-01T00:00:00Z", "",
              "/statuses", "/priorities", "/categories"]
    paths += [f"/tasks/{task_id}" for task_id in sorted(user.tasks.values())]
    recorded = {}
    for path in paths:
        answer = user.get(path)
        body = answer.json()
        # An error's request id is the request's own (a user without a status named in a filter).
        if isinstance(body, dict) and "code" in body:
            body.pop("request_id", None)
        recorded[path] = (answer.status, body)
        # Every page of each listing.
        if path.startswith("/tasks?") and answer.status == 200:
            for page in range(2, answer.json()["pages"] + 1):
                more = user.get(f"{path}&page={page}")
                recorded[f"{path}&page={page}"] = (more.status, more.json())
    me = call("GET", f"{API}/auth/me", token=user.token)
    recorded["/auth/me"] = (me.status, me.json())
    return recorded


def first_difference(before, after, where=""):
    if type(before) is not type(after):
        return where or "the answer", before, after
    if isinstance(before, dict):
        for key in sorted(set(before) | set(after)):
            if key not in before or key not in after:
                return f"{where}.{key}", before.get(key, "<absent>"), after.get(key, "<absent>")
            found = first_difference(before[key], after[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(before, list):
        if len(before) != len(after):
            return f"{where} (length)", len(before), len(after)
        for index, (b, a) in enumerate(zip(before, after)):
            found = first_difference(b, a, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if before == after else (where or "the answer", before, after)


# ---------------------------------------------------------------------------------------------
# The databases, compared column by column


def sqlite(sql):
    done = subprocess.run(["sqlite3", "-json", SQLITE_FILE, sql], capture_output=True, text=True, check=True)
    return json.loads(done.stdout or "[]")


def psql(sql):
    done = subprocess.run(["psql", PG_URL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise CheckFailed(f"psql: {done.stderr.strip()}\n  in: {sql}")
    return done.stdout


def psql_rows(sql):
    out = psql(f"SELECT coalesce(json_agg(r), '[]') FROM ({sql}) r")
    return json.loads(out)


# SQLite's own tables, and the change log, which is not copied (checked through the API).
NOT_COPIED = {"_sqlx_migrations", "sqlite_sequence", "changes", "change_floors"}


def compare_databases():
    """Every column of every SQLite table equals the PostgreSQL column of the same name, row by
    row (by primary key). The columns are read from SQLite's schema, not from the copy script,
    so a column the script leaves behind shows here."""
    tables = [row["name"] for row in sqlite("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    tables = [t for t in tables if t not in NOT_COPIED]
    pg_types = collections.defaultdict(dict)
    for row in psql_rows("SELECT table_name, column_name, data_type, domain_name FROM information_schema.columns "
                         "WHERE table_schema = 'public'"):
        pg_types[row["table_name"]][row["column_name"]] = row["data_type"]
    problems, summary = [], []
    for table in tables:
        columns = sqlite(f"SELECT name, pk FROM pragma_table_info('{table}') ORDER BY cid")
        names = [c["name"] for c in columns]
        keys = [c["name"] for c in sorted(columns, key=lambda c: c["pk"]) if c["pk"]]
        missing = [n for n in names if n not in pg_types[table]]
        if missing:
            problems.append(f"{table}: no PostgreSQL column for SQLite's {missing}")
            continue
        lite, post = [], []
        for name in names:
            kind = pg_types[table][name]
            if kind == "uuid":
                lite.append(f"CASE WHEN {name} IS NOT NULL THEN lower(hex({name})) END")
                post.append(f"replace({name}::text, '-', '')")
            elif kind.startswith("timestamp"):
                # Instants in microseconds; SQLite's date functions round fractions (…59.9999995
                # becomes the next second), so whole seconds and the fraction apart.
                lite.append(f"unixepoch(substr({name}, 1, 19)) * 1000000 + CAST(substr({name}, 21, 6) AS INTEGER)")
                post.append(f"(extract(epoch FROM {name}) * 1000000)::bigint")
            elif kind == "boolean":
                lite.append(name)
                post.append(f"{name}::int")
            else:
                lite.append(name)
                post.append(name)
        order = ", ".join(keys)
        lite_rows = sqlite(f"SELECT {', '.join(f'{e} AS {n}' for e, n in zip(lite, names))} FROM {table} ORDER BY {order}")
        post_rows = psql_rows(f"SELECT {', '.join(f'{e} AS {n}' for e, n in zip(post, names))} FROM {table} ORDER BY {order}")
        summary.append(f"{table} {len(lite_rows)}×{len(names)}")
        if len(lite_rows) != len(post_rows):
            problems.append(f"{table}: {len(lite_rows)} rows in SQLite, {len(post_rows)} in PostgreSQL")
            continue
        for lite_row, post_row in zip(lite_rows, post_rows):
            for name in names:
                if lite_row[name] != post_row[name]:
                    key = ", ".join(f"{k}={lite_row[k]}" for k in keys)
                    shown = [micros_text(v) if pg_types[table][name].startswith("timestamp") else repr(v)
                             for v in (lite_row[name], post_row[name])]
                    problems.append(f"{table}.{name} ({key}): SQLite {shown[0]}, PostgreSQL {shown[1]}")
    expect(not problems, "the copy differs from SQLite:\n    " + "\n    ".join(problems[:20]))
    return ", ".join(summary)


def micros_text(micros):
    if micros is None:
        return "NULL"
    at = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
    return f"{at.year:04d}-{at.strftime('%m-%dT%H:%M:%S.%fZ')}"


def fingerprint():
    """Every table's rows and every sequence's position in the target database, as one text."""
    tables = psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split()
    parts = [f"{t}: " + psql(f"SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') "
                             f"FROM {t} r").strip() for t in tables]
    parts.append(psql("SELECT string_agg(sequencename || '=' || coalesce(last_value, 0), ' ' ORDER BY 1) "
                      "FROM pg_sequences WHERE schemaname = 'public'").strip())
    return "\n".join(parts)


def run_copy(source=SQLITE_FILE):
    env = dict(os.environ, TODO_API_BIN=BIN)
    return subprocess.run([COPY, source, PG_URL], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def altered_source(name, sql):
    """A copy of the SQLite file with `sql` applied (by the sqlite3 shell: no foreign keys)."""
    path = os.path.join(WORK, name)
    subprocess.run(["sqlite3", SQLITE_FILE, f".backup '{path}'"], check=True)
    subprocess.run(["sqlite3", path, sql], check=True)
    return path


DATA_TABLES = ("users", "refresh_sessions", "tags", "tasks", "task_tags", "changes", "change_floors")


def indent(text):
    return "\n".join("    " + line for line in text.strip().splitlines())


# ---------------------------------------------------------------------------------------------
# The stream


def first_event(user, last_event_id):
    """The first event a stream resumed from `last_event_id` sends: (name, id, data)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request("GET", user.path(f"/events?last_event_id={urllib.parse.quote(last_event_id)}"),
                     headers={"Authorization": f"Bearer {user.token}", "Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            return f"HTTP {response.status}", None, response.read(300).decode(errors="replace")
        fields = {}
        while True:
            line = response.readline().decode().rstrip("\r\n")
            if line == "" and "event" in fields:
                return fields["event"], fields.get("id"), fields.get("data")
            if line.startswith(":") or not line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# The run

FAILED = []


def section(title, run, fatal=False):
    log(f"\n--> {title}")
    began = time.monotonic()
    try:
        result = run()
        log(f"  ok ({time.monotonic() - began:.1f} s){': ' + result if isinstance(result, str) else ''}")
        return result
    except CheckFailed as error:
        log(f"  FAILED: {error}")
        FAILED.append(f"{title.strip()}: " + " ".join(line.strip() for line in str(error).splitlines()[:2]))
    except Exception:  # noqa: BLE001 - a check that crashed is a failed check
        log(f"  FAILED with an exception:\n{indent(traceback.format_exc())}")
        FAILED.append(f"{title.strip()}: exception")
    if fatal:
        finish()
    return None


def finish():
    log("")
    if FAILED:
        log(f"{len(FAILED)} check(s) FAILED:")
        for failure in FAILED:
            log(f"  - {failure}")
        sys.exit(1)
    log("every check passed")
    sys.exit(0)


def phase_sqlite():
    server = Server("sqlite", f"sqlite://{SQLITE_FILE}")
    server.start()
    try:
        kept = make_data()
        kept["listings"] = {user.label: listings(user) for user in USERS}
    finally:
        server.stop()
    # The searches that rely on case keys find what they should on SQLite (so that finding the
    # same on PostgreSQL means something).
    found = {path: [t["title"] for t in body["items"]] for path, (status, body) in kept["listings"]["ada"].items()
             if status == 200 and "&" in path and path.split("&")[1].split("=")[0] in ("tag", "q")}
    want = {"tag=HOME": 2, "tag=école": 2, "tag=ERRANDS": 2, "q=rapport": 1, "q=ÖLBAUM": 1, "q=izmir": 1,
            "q=%C3%A9t%C3%A9": 1, "q=50%25_off": 1, "q=_OFF%5C": 1, "q=week": 1, "q=nothing": 0}
    for query, count in want.items():
        titles = found[f"/tasks?limit=100&{query}&sort=title"]
        expect(len(titles) == count, f"ada's search {query} on SQLite found {titles}, expected {count} task(s)")
    counts = {u.label: len(u.tasks) for u in USERS}
    return kept, f"tasks per user {counts}; {sum(len(v) for v in kept['listings'].values())} answers recorded"


def check_source():
    # That the data exercises what the copy must keep: a series start, a delivered reminder,
    # a successor, a rotated session, a year-0 time.
    got = sqlite("SELECT (SELECT count(*) FROM tasks WHERE recurrence_start IS NOT NULL) AS series, "
                 "(SELECT count(*) FROM tasks WHERE reminded_at IS NOT NULL) AS reminded, "
                 "(SELECT count(*) FROM tasks WHERE successor_id IS NOT NULL AND recurred_at IS NOT NULL) AS successors, "
                 "(SELECT count(*) FROM refresh_sessions WHERE previous_jti IS NOT NULL) AS rotated, "
                 "(SELECT count(*) FROM refresh_sessions WHERE revoked_at IS NOT NULL) AS revoked, "
                 "(SELECT count(*) FROM tasks WHERE due_date LIKE '0000-%') AS year_0")[0]
    expect(all(got.values()), f"the SQLite data lacks a case the copy must keep: {got}")
    return json.dumps(got)


def refuses_unknown_schema():
    newer = altered_source("newer.db", "INSERT INTO _sqlx_migrations (version, description, success, checksum, "
                                       "execution_time) VALUES (20991231000001, 'from a later version', 1, x'00', 0)")
    done = run_copy(newer)
    log(indent(done.stdout + done.stderr))
    expect(done.returncode != 0 and "does not know" in done.stderr,
           f"a SQLite database with an unknown migration was not refused as such (exit {done.returncode})")
    touched = psql("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL").strip()
    expect(touched == "f", "the target was migrated although the source was refused")
    return "refused before the target was touched"


def failed_copy_writes_nothing():
    # A link to a tag that does not exist (SQLite's shell does not enforce foreign keys): the
    # import fails at its last table, after every other one was loaded.
    broken = altered_source("broken.db", "INSERT INTO task_tags SELECT id, 999999, user_id FROM tasks "
                                         "ORDER BY id LIMIT 1")
    done = run_copy(broken)
    log(indent(done.stdout + done.stderr))
    expect(done.returncode != 0 and "task_tags" in done.stderr, f"the broken copy did not fail at task_tags (exit {done.returncode})")
    counts = {t: int(psql(f"SELECT count(*) FROM {t}")) for t in DATA_TABLES}
    expect(not any(counts.values()), f"a copy that failed left rows behind: {counts}")
    return "failed at task_tags, no row in " + ", ".join(DATA_TABLES)


def copy_once():
    done = run_copy()
    log(indent(done.stdout + done.stderr))
    expect(done.returncode == 0, f"scripts/sqlite-to-postgres exited with {done.returncode}")


def copy_twice(before):
    done = run_copy()
    log(indent(done.stdout + done.stderr))
    expect(done.returncode != 0, "a second copy into the same database was not refused")
    expect("refusing to merge" in done.stderr, f"the second copy failed, but not as a refusal: {done.stderr.strip()}")
    after = fingerprint()
    expect(after == before, f"the refused second copy changed the database:\nbefore:\n{before}\nafter:\n{after}")
    return f"refused (exit {done.returncode}), every table and sequence unchanged"


def same_listings(kept):
    compared = 0
    for user in USERS:
        for path, (status, body) in kept["listings"][user.label].items():
            if path == "/auth/me":
                answer = call("GET", f"{API}/auth/me", token=user.token)
            else:
                answer = user.get(path)
            expect(answer.status == status, f"{user.label} GET {path}: {status} on SQLite, {answer} on PostgreSQL")
            now = answer.json()
            if isinstance(now, dict) and "code" in now:
                now.pop("request_id", None)
            found = first_difference(body, now)
            if found:
                where, was, now = found
                raise CheckFailed(f"{user.label} GET {path}: {where} was {was!r} on SQLite, is {now!r} on PostgreSQL")
            compared += 1
    return f"{compared} answers identical (ids, fields, tags, order, totals)"


def sign_in(kept):
    # The access token issued on SQLite, for the session it names.
    me = call("GET", f"{API}/auth/me", token=kept["ada_access"])
    expect(me.status == 200 and me.json()["id"] == ADA.id, f"ada's access token from SQLite on /auth/me: {me}")
    for user, spelling in ((ADA, "ZOË.ADA@EXAMPLE.COM"), (BOB, "Bob@Example.com")):
        user.login(spelling)
    wrong = call("POST", f"{API}/auth/login", {"email": BOB.email, "password": "not-the-password"})
    expect(wrong.status == 401 and wrong.code == "INVALID_CREDENTIALS", f"a wrong password: {wrong}")

    def refresh(token):
        return call("POST", f"{API}/auth/refresh", headers={"Cookie": f"refresh_token={token}"})

    # Within the overlap the token the rotation superseded gets the session's current one, signed
    # again from previous_jti, current_jti, rotated_at and expires_at: byte for byte.
    answer = refresh(kept["ada_refresh_superseded"])
    expect(answer.status == 200, f"ada's superseded refresh token within the overlap: {answer}")
    expect(answer.cookie("refresh_token") == kept["ada_refresh_current"],
           "ada's superseded refresh token was not answered with the current one, byte for byte "
           "(previous_jti, rotated_at or expires_at not copied?)")
    answer = refresh(kept["ada_refresh_current"])
    expect(answer.status == 200 and answer.cookie("refresh_token") not in (None, kept["ada_refresh_current"]),
           f"ada's current refresh token did not rotate: {answer}")
    answer = refresh(kept["bob_refresh_live"])
    expect(answer.status == 200, f"bob's refresh token: {answer}")
    answer = refresh(kept["bob_refresh_revoked"])
    expect(answer.status == 401 and answer.code == "TOKEN_REVOKED", f"bob's signed-out session's token: {answer}")
    return ("passwords (email in another case), the SQLite access token, refresh tokens (the superseded one "
            "answered with the current one, byte for byte) work; the signed-out session's is 401 TOKEN_REVOKED")


def cursors(kept):
    for user in USERS:
        for cursor in kept[f"{user.label}_cursors"]:
            answer = user.changes(cursor)
            expect(answer.status == 410 and answer.code == "CURSOR_EXPIRED",
                   f"{user.label}: the SQLite cursor {cursor} on …/changes: expected 410 CURSOR_EXPIRED, got {answer}")
        name, event_id, data = first_event(user, kept[f"{user.label}_cursors"][1])
        expect(name == "resync", f"{user.label}: a stream resumed from a SQLite cursor began with {name!r} ({data})")
        expect(data and json.loads(data).get("cursor") == event_id, f"{user.label}: resync event {event_id} {data}")
    other = BOB.changes(kept["ada_cursors"][1])
    expect(other.status == 400 and other.code == "INVALID_CURSOR", f"ada's cursor used by bob: {other}")
    # since=0: the copied state, every status, priority, tag and task once, as created.
    for user in USERS:
        tasks = ok(user.get("/tasks?limit=100"), 200, "list tasks")["items"]
        tags = ok(user.get("/tags"), 200, "list tags")
        lists = ok(user.get("/categories"), 200, "list statuses and priorities")
        want = sorted([("tag.created", t["id"]) for t in tags] + [("task.created", t["id"]) for t in tasks]
                      + [("status.created", s["id"]) for s in lists["statuses"]]
                      + [("priority.created", p["id"]) for p in lists["priorities"]])
        changes, _ = user.changes_until("0", lambda changes: len(changes) >= len(want))
        got = sorted((c["type"], c["id"]) for c in changes)
        expect(got == want, f"{user.label}: …/changes?since=0 is {got}, expected every status, priority, tag and task as created: {want}")
        by_id = ({("task.created", t["id"]): t for t in tasks} | {("tag.created", t["id"]): t for t in tags}
                 | {("status.created", s["id"]): s for s in lists["statuses"]}
                 | {("priority.created", p["id"]): p for p in lists["priorities"]})
        for change in changes:
            expect(change["data"] == by_id[(change["type"], change["id"])],
                   f"{user.label}: {change['type']} {change['id']} carries {change['data']}")
        # Statuses were copied first, then priorities, tags and tasks, each in id order.
        rank = {"status.created": 0, "priority.created": 1, "tag.created": 2, "task.created": 3}
        order = [(rank[c["type"]], c["id"]) for c in changes]
        expect(order == sorted(order), f"{user.label}: the copied objects are not logged in order: {got}")
    return ("SQLite cursors: 410 CURSOR_EXPIRED on …/changes and `resync` first on a resumed stream; "
            "another user's: 400 INVALID_CURSOR; since=0 replays every tag and task as created")


def reminder_and_ids(kept):
    cursor = ok(ADA.changes(), 200, "ada: the cursor now")["cursor"]
    # The scheduler runs once a second, and first right after start: had reminded_at been lost,
    # the reminder would have been delivered again by now.
    time.sleep(2.2)
    reminded = ok(ADA.get(f"/tasks/{ADA.tasks['izmir']}"), 200, "ada: the reminder's task")["reminded_at"]
    expect(reminded == kept["reminded_at"], f"reminded_at was {kept['reminded_at']}, is {reminded}")
    listed = [t["id"] for t in ok(ADA.get("/reminders"), 200, "ada: reminders")]
    expect(ADA.tasks["izmir"] in listed, f"the delivered reminder's task is not in …/reminders: {listed}")
    # Then a task and a tag: their ids follow the highest SQLite ever handed out (deleted ones
    # included), and once their changes are answered, so is anything logged before them.
    task = ADA.post("/tasks", {"title": "First task on PostgreSQL", "tag_ids": [ADA.tags["home"]]})
    tag = ADA.post("/tags", {"name": "First tag on PostgreSQL"})
    expect(task["id"] == kept["max_task"] + 1,
           f"the new task's id {task['id']} does not follow the highest id SQLite handed out, {kept['max_task']}")
    expect(tag["id"] == kept["max_tag"] + 1,
           f"the new tag's id {tag['id']} does not follow the highest id SQLite handed out, {kept['max_tag']}")
    # New tasks go to the top of the manual order, above every copied one.
    top = ok(ADA.get("/tasks?sort=position&limit=1"), 200, "ada: the top of the order")["items"][0]["id"]
    expect(top == task["id"], f"the new task {task['id']} is not at the top of the order (task {top} is)")
    mine = [("task.created", task["id"]), ("tag.created", tag["id"])]
    changes, _ = ADA.changes_until(cursor, lambda changes: ("tag.created", tag["id"]) in
                                   [(c["type"], c["id"]) for c in changes])
    got = [(c["type"], c["id"]) for c in changes]
    expect(got == mine, f"the change log on PostgreSQL, from before a 2.2 s wait: {got}, expected only {mine}"
                        + (" (the delivered reminder was delivered again: reminded_at not copied?)"
                           if any(c["type"] == "reminder" for c in changes) else ""))
    return (f"no reminder again in 2.2 s (reminded_at {reminded}); new task {task['id']} and tag {tag['id']} "
            f"follow the deleted {kept['max_task']} and {kept['max_tag']}, and are logged")


def recurrence(kept):
    first, second = ADA.tasks["standup"], ADA.tasks["standup_next"]
    total = ok(ADA.get("/tasks?limit=1"), 200, "count tasks")["total"]
    # recurred_at: completing the first occurrence again makes no second successor.
    ADA.patch(f"/tasks/{first}/complete")
    again = ADA.patch(f"/tasks/{first}/complete")
    expect(again["completed"] and again["successor_id"] == second,
           f"the first occurrence completed again: successor_id {again['successor_id']}, expected {second}")
    expect(ok(ADA.get("/tasks?limit=1"), 200, "count tasks")["total"] == total,
           "completing the first occurrence again made another successor (recurred_at not copied?)")
    # recurrence_start: COUNT=2 counts the series from its first due date, so the second
    # occurrence is the last: completing it makes no third.
    last = ADA.patch(f"/tasks/{second}/complete")
    extra = last["successor_id"]
    if extra is not None:
        due = ok(ADA.get(f"/tasks/{extra}"), 200, "the extra occurrence")["due_date"]
        raise CheckFailed(f"completing the second occurrence of a COUNT=2 series made a third, task {extra} due "
                          f"{due}: the series start (recurrence_start) was not copied")
    expect(ok(ADA.get("/tasks?limit=1"), 200, "count tasks")["total"] == total, "the series went on")
    return "completed again: same successor; the COUNT=2 series ends at its second occurrence"


def unique_tags():
    for name in ("HOME", "école", "errands"):
        answer = call("POST", ADA.path("/tags"), {"name": name}, token=ADA.token)
        expect(answer.status == 400 and answer.code == "TAG_ALREADY_EXISTS",
               f"a tag named {name!r} beside ada's copied tag: expected 400 TAG_ALREADY_EXISTS, got {answer}")
    return "HOME, école, errands: 400 TAG_ALREADY_EXISTS"


def main():
    kept, _ = section("1. the service on SQLite: users, tags, tasks, sessions, listings",
                      lambda: phase_sqlite(), fatal=True) or (None, None)
    section("   the SQLite data has each case the copy must keep", check_source)
    section("2. a SQLite database at a schema version the copy does not know", refuses_unknown_schema)
    section("   a copy that fails part-way", failed_copy_writes_nothing)
    section("   scripts/sqlite-to-postgres", copy_once, fatal=True)
    section("   every column of every table equals SQLite's", compare_databases)
    before = fingerprint()
    section("   a second copy into the same database", lambda: copy_twice(before))
    server = Server("postgres", PG_URL)
    section("3. the service on PostgreSQL", server.start, fatal=True)
    try:
        section("   every listing as on SQLite", lambda: same_listings(kept))
        section("   signing in, sessions and tokens", lambda: sign_in(kept))
        section("   sync cursors from SQLite", lambda: cursors(kept))
        section("   the delivered reminder stays delivered; new ids continue after SQLite's",
                lambda: reminder_and_ids(kept))
        section("   the recurring series goes on as on SQLite", lambda: recurrence(kept))
        section("   tag names unique regardless of case", unique_tags)
    finally:
        section("   stopping the service", server.stop)
    log(f"\n{time.monotonic() - START:.1f} s of checks")
    finish()


main()
