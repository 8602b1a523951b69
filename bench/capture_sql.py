#!/usr/bin/env python3
"""Turns the statements the service logged for each endpoint into pgbench scripts that spread
over the seeded users and tasks exactly as the wrk runs do.

Reads a PostgreSQL server log (from a byte offset) written with log_min_duration_statement = 0
while bench/run made one request per endpoint as one user (the capture user), each request
preceded by a marker query `SELECT 'bench-marker:<endpoint>'`. Only entries of the bench
database count (the log line prefix names it: Debian's `%m [%p] %q%u@%d `). Every statement
between two markers, with its logged parameters (`DETAIL:  parameters: $1 = '…', $2 = NULL`), is
one statement of the endpoint; statements of the service's background work (reminder claims,
NOTIFY, LISTEN) are left out.

Each statement becomes a template: a parameter whose whole logged value is the capture user's
id, the capture session's id (the `sid` of the capture token: the session-liveness query names
it), the task the request addressed, or the id of the task that `create` made, becomes a
placeholder. Only whole parameter values are compared, so a timestamp or a title that merely
contains those digits is left alone; a statement still naming them after that (a uuid inside
another value, an id inlined in the SQL or inside an array parameter) fails the capture rather
than being replayed for the wrong row.

Written to OUT_DIR:
  <endpoint>.template.sql     the template, placeholders shown as :user_id, :session_id,
                              :task_id, :new_id (for reading, not for running)
  <endpoint>/user-NN.sql      one pgbench script per seeded user (line NN of USERS, from 00):
                              that user's id and session as literals; for task-bearing endpoints
                              `\\set task_id random(lo, hi)` over the user's listed tasks (the
                              same 50 wrk picks from, checked to be contiguous ids); for create,
                              `\\gset new_` on the INSERT … RETURNING id so later statements use
                              :new_id.
bench/run gives pgbench every user-NN.sql of an endpoint with weight 1, so each transaction
picks a user uniformly, as wrk does.

USERS: one line per seeded user, "<user_id> <access_token> <email> <task_id> …" (bench/run's
users.txt); the session of each user's token is its `sid` claim.

usage: capture_sql.py --log LOG --offset N --database DB --out OUT_DIR --users USERS
                      --user-id UUID --token CAPTURE_TOKEN --task-id ID --created-id ID
"""

import argparse
import base64
import json
import re
import sys
from pathlib import Path

# A log entry starts with the prefix's timestamp; lines that do not are its continuation.
ENTRY_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
SEVERITY = re.compile(r" (LOG|DETAIL|STATEMENT|ERROR|FATAL|WARNING|NOTICE|HINT|CONTEXT):  ")
# Extended protocol logs parse, bind and execute, each with a duration; only execute (or a
# simple-protocol `statement`) is the statement having run.
STATEMENT = re.compile(r"^duration: [0-9.]+ ms\s+(?:execute [^:]*|statement): (.*)$", re.S)
PARAMETERS = re.compile(r"^parameters: (.*)$", re.S)
PARAMETER = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")
MARKER = re.compile(r"^SELECT 'bench-marker:([a-z-]+)'")
BACKGROUND = ("reminded_at = now()", "pg_notify", "LISTEN", "_sqlx_migrations", "bench-marker")
PLACEHOLDER_NAMES = ("user_id", "session_id", "task_id", "new_id")
TASK_BEARING = ("get", "patch", "toggle")


def fail(message):
    print(f"capture_sql.py: {message}", file=sys.stderr)
    sys.exit(1)


def jwt_claim(token, claim):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[claim]


def log_entries(path, offset, database):
    """(severity, message) of each entry from `offset`, continuation lines joined."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    raw = []
    for line in lines:
        if ENTRY_START.match(line) or not raw:
            raw.append(line)
        else:
            raw[-1] += "\n" + line
    entries, ours = [], f"@{database} "
    for text in raw:
        severity = SEVERITY.search(text)
        if severity is None:
            continue
        prefix = text[: severity.start() + 1]
        entries.append((ours in prefix, severity.group(1), text[severity.end():]))
    if not any(mine for mine, _, _ in entries):
        # The log line prefix does not name the database: take every entry.
        print("capture_sql.py: log lines do not name the database; reading them all",
              file=sys.stderr)
        return [(severity, message) for _, severity, message in entries]
    return [(severity, message) for mine, severity, message in entries if mine]


def captured(entries):
    """{endpoint: [(sql, {n: literal})]} from the marker-delimited log entries."""
    scripts, current, pending = {}, None, None

    def flush():
        nonlocal pending
        if pending is not None and current is not None and current != "end":
            sql, values = pending
            if not any(mark in sql for mark in BACKGROUND):
                scripts.setdefault(current, []).append((sql, values))
        pending = None

    after_execute = False
    for severity, message in entries:
        if severity == "DETAIL":
            detail = PARAMETERS.match(message)
            if detail and pending is not None and after_execute:
                values = {int(n): v for n, v in PARAMETER.findall(detail.group(1))}
                pending = (pending[0], values)
            continue
        after_execute = False
        if severity != "LOG":
            continue
        statement = STATEMENT.match(message)
        if statement is None:
            continue
        flush()
        sql = statement.group(1).strip()
        marker = MARKER.match(sql)
        if marker:
            current = marker.group(1)
            continue
        pending = (sql, {})
        after_execute = True
    flush()
    return scripts


def collapse(sql):
    """The service's SQL on one line (its text has no string literals spanning lines)."""
    return re.sub(r"\s*\n\s*", " ", sql).rstrip().rstrip(";").rstrip()


class Placeholder:
    def __init__(self, name):
        self.name = name


def template(statements, known):
    """Replaces whole parameter values equal to a known value by placeholders."""
    by_literal = {f"'{value}'": name for name, value in known.items()}
    result = []
    for sql, values in statements:
        result.append((collapse(sql), {
            n: Placeholder(by_literal[v]) if v in by_literal else v for n, v in values.items()
        }))
    return result


def render(sql, values, substitute):
    """`sql` with $n replaced in one pass (a value is never rescanned)."""
    def value(match):
        n = int(match.group(1))
        if n not in values:
            fail(f"no logged value for ${n} in: {sql}")
        v = values[n]
        return substitute(v.name) if isinstance(v, Placeholder) else v
    return re.sub(r"\$(\d+)", value, sql)


def leftovers(sql, values, known):
    """Known values that a statement still names outside its placeholders: a uuid anywhere, an
    id inlined in the SQL text or as an element of an array parameter (`'{250}'`). An id's
    digits inside prose or a timestamp (`'Task 250'`, `'… 00:12:34.250+00'`) do not count."""
    found = set()
    rest = [v for v in values.values() if not isinstance(v, Placeholder)]
    bare_sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    for name, value in known.items():
        if not re.fullmatch(r"\d+", value):
            if value in sql or any(value in v for v in rest):
                found.add(name)
            continue
        if re.search(rf"(?<![\w.$:]){value}(?![\w.])", bare_sql):
            found.add(name)
        for v in rest:
            inner = v[1:-1].replace("''", "'") if v.startswith("'") else ""
            if inner.startswith("{") and value in re.split(r'[{},\s"]+', inner):
                found.add(name)
    return sorted(found)


def returning_id(sql):
    match = re.search(r"\bRETURNING\s+(.*)$", sql, re.I | re.S)
    if not match:
        return False
    columns = [c.strip() for c in match.group(1).split(",")]
    return any(re.fullmatch(r"(?:\w+\.)?id(?:\s+AS\s+id)?", c, re.I) for c in columns)


def main():
    parser = argparse.ArgumentParser()
    for option in ("--log", "--database", "--out", "--users", "--user-id", "--token",
                   "--task-id", "--created-id"):
        parser.add_argument(option, required=True)
    parser.add_argument("--offset", type=int, required=True)
    args = parser.parse_args()
    out = Path(args.out)

    session_id = jwt_claim(args.token, "sid")
    known = {"user_id": args.user_id, "session_id": session_id, "task_id": args.task_id,
             "new_id": args.created_id}
    if len(set(known.values())) != len(known):
        fail(f"capture values are not distinct: {known}")

    users = []
    for number, line in enumerate(Path(args.users).read_text().splitlines()):
        fields = line.split()
        if len(fields) < 4:
            fail(f"users file line {number + 1} has no tasks: {line!r}")
        tasks = sorted(int(t) for t in fields[3:])
        lo, hi = tasks[0], tasks[-1]
        if len(set(tasks)) != len(tasks) or hi - lo + 1 != len(tasks):
            fail(f"{fields[2]}: the {len(tasks)} listed task ids are not contiguous "
                 f"({lo}…{hi}); `\\set task_id random({lo}, {hi})` would not pick the tasks "
                 "wrk picks")
        users.append({"id": fields[0], "session": jwt_claim(fields[1], "sid"),
                      "email": fields[2], "lo": lo, "hi": hi})

    scripts = captured(log_entries(args.log, args.offset, args.database))
    if not scripts:
        fail("no statements captured (is the PostgreSQL log where bench/run looked?)")
    out.mkdir(parents=True, exist_ok=True)
    for endpoint, statements in scripts.items():
        templ = template(statements, known)
        used = {v.name for _, values in templ for v in values.values()
                if isinstance(v, Placeholder)}
        for sql, values in templ:
            rest = leftovers(sql, values, known)
            if rest:
                fail(f"{endpoint}: {', '.join(rest)} still appears in a statement after "
                     f"templating (not as a whole parameter); refusing to replay it for one "
                     f"row: {render(sql, values, lambda name: f':{name}')}")
        if endpoint in TASK_BEARING and "task_id" not in used:
            fail(f"{endpoint}: the captured task id {args.task_id} appears in no statement")
        # The request of any other endpoint names no existing task: a parameter equal to the
        # task id (a limit, say) would be a coincidence, and replaying it as one would be wrong.
        if endpoint not in TASK_BEARING and "task_id" in used:
            fail(f"{endpoint}: a parameter equals the captured task id {args.task_id}; "
                 "capture with another task")
        if endpoint != "create" and "new_id" in used:
            fail(f"{endpoint}: a parameter equals the created task's id {args.created_id}")

        # For create: the INSERT … RETURNING id that made the task, read into :new_id.
        gset_at = None
        if "new_id" in used:
            first_use = next(i for i, (_, values) in enumerate(templ)
                             if any(isinstance(v, Placeholder) and v.name == "new_id"
                                    for v in values.values()))
            inserts = [i for i, (sql, _) in enumerate(templ[:first_use])
                       if re.match(r"INSERT\b", sql, re.I) and returning_id(sql)]
            if not inserts:
                fail(f"{endpoint}: the new task id is used, but no INSERT … RETURNING id "
                     "precedes its first use")
            gset_at = inserts[-1]

        def lines(substitute, task_range, runnable=True):
            result = []
            if "task_id" in used:
                result.append(task_range)
            for i, (sql, values) in enumerate(templ):
                text = render(sql, values, substitute)
                # pgbench reads :name as a variable anywhere, quotes or not (`::` is a cast).
                stray = set(re.findall(r"(?<!:):([A-Za-z_]\w*)", text)) - {"task_id", "new_id"}
                if runnable and stray:
                    fail(f"{endpoint}: pgbench would read a variable in: {text}")
                result.append(f"{text} \\gset new_" if i == gset_at else f"{text};")
            return result

        (out / f"{endpoint}.template.sql").write_text("\n".join(
            [f"-- {endpoint}: template; per-user scripts in {endpoint}/"]
            + lines(lambda name: f":{name}", "\\set task_id random(:lo, :hi)", runnable=False))
            + "\n")
        (out / endpoint).mkdir(exist_ok=True)
        for number, user in enumerate(users):
            def substitute(name, user=user):
                return {"user_id": f"'{user['id']}'", "session_id": f"'{user['session']}'",
                        "task_id": ":task_id", "new_id": ":new_id"}[name]
            header = (f"-- {endpoint} as {user['email']} (user {user['id']}, "
                      f"session {user['session']})")
            body = lines(substitute, f"\\set task_id random({user['lo']}, {user['hi']})")
            (out / endpoint / f"user-{number:02d}.sql").write_text(
                "\n".join([header] + body) + "\n")
        print(f"{endpoint}: {len(templ)} statement(s), placeholders: "
              f"{', '.join(sorted(used)) or 'none'}; {len(users)} per-user scripts",
              file=sys.stderr)


if __name__ == "__main__":
    main()
