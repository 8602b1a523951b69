#!/usr/bin/env python3
"""The checks of scripts/balanced-copies (read its header first).

The shell script makes the database, migrates it, writes the copies' settings to
$BC_WORK/service.env and starts HAProxy; this starts the three copies (as its own children, so
that it can wait for them when it kills or restarts one), runs checks a-f through the balancer,
stops the copies and prints a summary. Exit status 1 when any check failed. Standard library
only.

Each copy's pid is kept in $BC_WORK/appN.pid while it runs, so that the shell script's cleanup
can end copies left behind if this process dies.
"""

import collections
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone

import http_checks
from http_checks import CheckFailed, expect, log

BIN = os.environ["BC_BIN"]
WORK = os.environ["BC_WORK"]
LB = int(os.environ["BC_LB_PORT"])
PORTS = [int(port) for port in os.environ["BC_PORTS"].split(",")]
SOCK = os.path.join(WORK, "haproxy.sock")
SHARED_BUDGET = os.environ.get("BC_SHARED_BUDGET") == "t"
API = "/api/v1"
# The address check b logs in from: its own, so that its spent budget leaves 127.0.0.1's alone
# (the whole of 127/8 is loopback on Linux; HAProxy puts it in X-Forwarded-For).
OTHER_CLIENT = "127.0.0.2"
START = time.monotonic()


# ---------------------------------------------------------------------------------------------
# HTTP (http_checks.py), through the balancer unless told otherwise


def connection(port=LB, source=None, timeout=10):
    return http_checks.connection(port, source, timeout)


def call(method, path, body=None, token=None, port=LB, headers=None, conn=None, source=None):
    """One request; on `conn` when given (kept open), else on a connection of its own."""
    return http_checks.call(method, path, port, body, token, headers, conn, source)


def now_plus(seconds):
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


CURSOR = re.compile(r"^(\d+)\.(\d+)-[0-9a-f]{8}$")


def cursor_key(cursor):
    """A cursor's place as a tuple (xid, id); the text is opaque to clients, not to this test."""
    match = CURSOR.match(cursor or "")
    expect(match, f"not a cursor of the form {{xid}}.{{id}}-{{8hex}}: {cursor!r}")
    return int(match.group(1)), int(match.group(2))


def all_changes(user_id, token, since):
    changes = []
    while True:
        answer = call("GET", f"{API}/users/{user_id}/changes?since={since}&limit=1000", token=token)
        expect(answer.status == 200, f"GET …/changes?since={since}: {answer}")
        page = answer.json()
        changes.extend(page["changes"])
        since = page["cursor"]
        if not page["has_more"]:
            return changes


def all_task_ids(user_id, token):
    ids, page, pages = set(), 1, 1
    conn = connection()
    try:
        while page <= pages:
            answer = call(
                "GET",
                f"{API}/users/{user_id}/tasks?limit=100&sort=created_at&page={page}",
                token=token,
                conn=conn,
            )
            expect(answer.status == 200, f"listing tasks, page {page}: {answer}")
            body = answer.json()
            ids.update(task["id"] for task in body["items"])
            pages = body["pages"]
            page += 1
    finally:
        conn.close()
    return ids


# ---------------------------------------------------------------------------------------------
# HAProxy's runtime API


def haproxy(command):
    if shutil.which("socat"):
        done = subprocess.run(
            ["socat", "-", f"UNIX-CONNECT:{SOCK}"],
            input=command + "\n",
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return done.stdout
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(SOCK)
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def servers():
    """The backend's servers as HAProxy sees them: name -> `show stat` fields."""
    lines = haproxy("show stat").splitlines()
    fields = lines[0].lstrip("# ").split(",")
    rows = (dict(zip(fields, line.split(","))) for line in lines[1:] if line)
    return {row["svname"]: row for row in rows if row["pxname"] == "copies" and row["svname"] != "BACKEND"}


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic()


def wait_status(name, status, timeout=10):
    return wait_for(f"HAProxy to see {name} {status}", lambda: servers()[name]["status"] == status, timeout)


# ---------------------------------------------------------------------------------------------
# The copies


def service_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith("BC_")}
    with open(os.path.join(WORK, "service.env")) as settings:
        for line in settings:
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                env[key] = value
    return env


class Copy:
    def __init__(self, number, port):
        self.name = f"app{number}"
        self.port = port
        self.proc = None
        self.log = os.path.join(WORK, f"{self.name}.log")
        self.pidfile = os.path.join(WORK, f"{self.name}.pid")

    def start(self):
        env = dict(service_env(), PORT=str(self.port))
        with open(self.log, "ab") as out:
            # cwd: the work directory, so that no .env of the repository is read.
            self.proc = subprocess.Popen(
                [BIN, "serve"], env=env, cwd=WORK, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        with open(self.pidfile, "w") as pidfile:
            pidfile.write(str(self.proc.pid))

    def ready(self):
        if self.proc.poll() is not None:
            raise CheckFailed(f"{self.name} exited with status {self.proc.returncode} (log: {self.log})")
        try:
            return call("GET", "/health/ready", port=self.port).status == 200
        except OSError:
            return False

    def wait_ready(self, timeout=20):
        return wait_for(f"{self.name} to answer /health/ready 200", self.ready, timeout)

    def stop(self, sig, timeout=15):
        """Sends `sig` and waits for the exit; the exit status."""
        self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
            raise CheckFailed(f"{self.name} did not stop within {timeout} s of signal {sig}")
        finally:
            if self.proc.poll() is not None and os.path.exists(self.pidfile):
                os.unlink(self.pidfile)
        return status


COPIES = [Copy(number, port) for number, port in enumerate(PORTS, start=1)]
BY_NAME = {copy.name: copy for copy in COPIES}


# ---------------------------------------------------------------------------------------------
# Users and sessions


class User:
    def __init__(self):
        self.email = f"lb-{uuid.uuid4().hex[:12]}@example.com"
        self.password = "balanced-copies-password"
        self.id = None
        self.token = None

    def register(self):
        answer = call("POST", f"{API}/auth/register", {"email": self.email, "password": self.password})
        expect(answer.status == 201, f"register: {answer}")
        self.id = answer.json()["id"]
        return answer

    def login(self):
        answer = call("POST", f"{API}/auth/login", {"email": self.email, "password": self.password})
        expect(answer.status == 200, f"login: {answer}")
        self.token = answer.json()["access_token"]
        return answer

    def path(self, rest=""):
        return f"{API}/users/{self.id}{rest}"


def refresh_token_of(answer):
    """The refresh token: docs/api.md puts it in the `refresh_token` cookie only; a body field of
    that name is taken too, should a build add one."""
    body = answer.json() or {}
    return body.get("refresh_token") or answer.cookie("refresh_token")


def with_cookie(token):
    return {"Cookie": f"refresh_token={token}"}


# ---------------------------------------------------------------------------------------------
# a. Sessions across copies


def check_sessions(user):
    route = []
    register = user.register()
    route.append(("register", register))
    login = call("POST", f"{API}/auth/login", {"email": user.email, "password": user.password})
    expect(login.status == 200, f"login: {login}")
    route.append(("login", login))
    access_1, refresh_1 = login.json()["access_token"], refresh_token_of(login)
    expect(refresh_1, f"login gave no refresh token (cookie or body): {login.headers}")

    refresh = call("POST", f"{API}/auth/refresh", headers=with_cookie(refresh_1))
    expect(refresh.status == 200, f"refresh: {refresh}")
    route.append(("refresh", refresh))
    access_2, refresh_2 = refresh.json()["access_token"], refresh_token_of(refresh)
    expect(refresh_2 and refresh_2 != refresh_1, "refresh did not rotate the refresh token")

    me = call("GET", f"{API}/auth/me", token=access_2)
    expect(me.status == 200, f"/auth/me before logout: {me}")
    route.append(("me", me))
    logout = call("POST", f"{API}/auth/logout", headers=with_cookie(refresh_2))
    expect(logout.status == 200, f"logout: {logout}")
    route.append(("logout", logout))
    for step, answer in route:
        log(f"  {step:<9} {answer.status}  served by {answer.served_by}")
    hops = [answer.served_by for step, answer in route if step in ("login", "refresh", "logout")]
    expect(hops[0] != hops[1] and hops[1] != hops[2],
           f"login, refresh and logout did not cross copies ({hops}): round robin is off?")

    refused = []

    def refused_as(answer, what):
        expect(answer.status == 401 and answer.code == "TOKEN_REVOKED",
               f"{what}: expected 401 TOKEN_REVOKED, got {answer}")
        refused.append(answer)

    # The refresh token current at logout, and the one it had replaced, through the balancer
    # (lands on two copies), then the current one on each copy directly.
    for token, label in ((refresh_2, "current"), (refresh_1, "superseded")):
        answer = call("POST", f"{API}/auth/refresh", headers=with_cookie(token))
        refused_as(answer, f"refresh with the revoked session's {label} token through the balancer")
    for copy in COPIES:
        answer = call("POST", f"{API}/auth/refresh", headers=with_cookie(refresh_2), port=copy.port)
        refused_as(answer, f"refresh with the revoked refresh token, directly on {copy.name}")
    # Both access tokens of the revoked session, on every copy directly and three times through
    # the balancer (round robin: once on each).
    for label, token in (("login's", access_1), ("refresh's", access_2)):
        via = []
        for _ in COPIES:
            answer = call("GET", f"{API}/auth/me", token=token)
            refused_as(answer, f"/auth/me with the {label} access token through the balancer")
            via.append(answer.served_by)
        for copy in COPIES:
            answer = call("GET", f"{API}/auth/me", token=token, port=copy.port)
            refused_as(answer, f"/auth/me with the {label} access token, directly on {copy.name}")
        expect(sorted(via) == sorted(c.name for c in COPIES),
               f"/auth/me through the balancer reached {via}, not each copy once")
    log(f"  after logout: refresh 401 TOKEN_REVOKED (balancer and each copy directly); /auth/me "
        f"401 TOKEN_REVOKED for both access tokens on app1, app2, app3 directly and through the balancer")
    return (f"register {route[0][1].served_by}, login {hops[0]}, refresh {hops[1]}, logout {hops[2]}; "
            f"{len(refused)} refusals, all 401 TOKEN_REVOKED")


# ---------------------------------------------------------------------------------------------
# b. One login budget for all copies


def check_login_budget(user):
    attempts = []
    for _ in range(12):
        answer = call("POST", f"{API}/auth/login", {"email": user.email, "password": "not-the-password"},
                      source=OTHER_CLIENT)
        attempts.append(answer)
    through = [a for a in attempts if a.status != 429]
    limited = [a for a in attempts if a.status == 429]
    line = ", ".join(f"{a.served_by}:{a.status}" + (f"(Retry-After {a.header('retry-after')})" if a.status == 429 else "")
                     for a in attempts)
    log(f"  12 wrong-password logins from {OTHER_CLIENT}: {line}")
    per_copy = collections.Counter(a.served_by for a in through)
    log(f"  got through, per copy: {dict(sorted(per_copy.items()))}")
    if len(through) != 5:
        why = "" if SHARED_BUDGET else " (this build's migrations have no rate_limits table: an older build, per-copy budgets)"
        raise CheckFailed(f"login budget not shared: {len(through)} of 12 got through, expected 5{why}")
    for answer in through:
        expect(answer.status == 401 and answer.code == "INVALID_CREDENTIALS",
               f"a wrong password within the budget: expected 401 INVALID_CREDENTIALS, got {answer}")
    for answer in limited:
        retry_after = answer.header("retry-after") or ""
        expect(answer.code == "RATE_LIMIT_EXCEEDED" and retry_after.isdigit() and int(retry_after) >= 1,
               f"429 without RATE_LIMIT_EXCEEDED and a Retry-After in seconds: {answer} {answer.headers}")
    # A client claiming to be someone else in its own X-Forwarded-For line buys no new budget:
    # HAProxy adds its line after the client's, and the service takes the last address.
    forged = [call("POST", f"{API}/auth/login", {"email": user.email, "password": "not-the-password"},
                   source=OTHER_CLIENT, headers={"X-Forwarded-For": f"10.9.8.{n}"})
              for n in range(1, 4)]
    log("  3 more with forged X-Forwarded-For lines: " + ", ".join(str(a.status) for a in forged))
    expect(all(a.status == 429 for a in forged),
           "a forged X-Forwarded-For line bought a new budget: "
           + ", ".join(f"{a.status} {a.code}" for a in forged))
    return (f"5 of 12 through ({dict(sorted(per_copy.items()))}), 7 × 429 with Retry-After; "
            "3 forged X-Forwarded-For: 429")


# ---------------------------------------------------------------------------------------------
# c and d: one event stream, a reminder and a burst of creations


class EventStream(threading.Thread):
    """GET …/events through the balancer, parsed as Server-Sent Events in a thread of its own."""

    def __init__(self, user):
        super().__init__(daemon=True)
        self.user = user
        self.events = []  # (monotonic time, event, id, data)
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.sock = None
        self.status = None
        self.served_by = None
        self.error = None
        self.stopping = False

    def run(self):
        try:
            conn = connection(timeout=None)
            conn.request("GET", self.user.path("/events"),
                         headers={"Authorization": f"Bearer {self.user.token}", "Accept": "text/event-stream"})
            self.sock = conn.sock
            response = conn.getresponse()
            self.status, self.served_by = response.status, response.getheader("X-Served-By")
            if response.status != 200:
                self.error = f"{response.status} {response.read()[:300]!r}"
                return
            event = {}
            while line := response.readline():
                line = line.decode().rstrip("\r\n")
                if line.startswith(":"):  # ": connected" on connect, then every 15 s
                    self.connected.set()
                elif not line:
                    if "data" in event:
                        with self.lock:
                            self.events.append((time.monotonic(), event.get("event", "message"),
                                                event.get("id"), json.loads(event["data"])))
                    event = {}
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    event[field] = event[field] + "\n" + value if field == "data" and "data" in event else value
            if not self.stopping:
                self.error = "the stream ended"
        except Exception as error:  # reported by the check that reads the stream
            if not self.stopping:
                self.error = repr(error)
        finally:
            self.connected.set()

    def received(self):
        with self.lock:
            return list(self.events)

    def stop(self):
        self.stopping = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(2)


def observe_stream_and_reminder(user):
    """Opens the stream, creates a task with a reminder due in 2 s and then 30 tasks; collects
    what the stream and the change log said about them."""
    seen = {}
    stream = EventStream(user)
    stream.start()
    try:
        expect(stream.connected.wait(5) and stream.error is None,
               f"the event stream did not open: {stream.error or 'no comment line within 5 s'}")
        seen["stream"] = stream

        remind_at, due = now_plus(2), time.monotonic() + 2
        answer = call("POST", user.path("/tasks"), {"title": "remind me once", "remind_at": remind_at}, token=user.token)
        expect(answer.status == 201, f"creating the task with a reminder: {answer}")
        seen["reminder_task"] = answer.json()["id"]
        seen["remind_at"] = remind_at
        seen["reminder_due"] = due

        answer = call("GET", user.path("/changes"), token=user.token)
        expect(answer.status == 200, f"GET …/changes without since: {answer}")
        seen["cursor_before"] = answer.json()["cursor"]

        created, served = [], collections.Counter()
        seen["burst_start"] = time.monotonic()
        conn = connection()
        for n in range(30):
            answer = call("POST", user.path("/tasks"), {"title": f"burst {n}"}, token=user.token, conn=conn)
            expect(answer.status == 201, f"creating burst task {n}: {answer}")
            created.append(answer.json()["id"])
            served[answer.served_by] += 1
        conn.close()
        seen["burst_end"] = time.monotonic()
        seen["created"], seen["served"] = created, served

        wanted = set(created)

        def all_arrived():
            return wanted <= {data.get("id") for _, kind, _, data in stream.received() if kind == "task.created"}

        deadline = seen["burst_start"] + 5
        while not all_arrived() and time.monotonic() < deadline and stream.error is None:
            time.sleep(0.02)
        seen["burst_events_at"] = time.monotonic()
        # The reminder: due at +2 s, claimed at the next tick of some copy's scheduler (once a
        # second); 3 s more lets a second delivery, should there be one, show up too.
        time.sleep(max(0.0, seen["reminder_due"] + 3 - time.monotonic()))
        seen["since_before"] = all_changes(user.id, user.token, seen["cursor_before"])
        seen["since_start"] = all_changes(user.id, user.token, 0)
    finally:
        stream.stop()
    return seen


def check_stream(seen):
    stream, created = seen["stream"], seen["created"]
    events = stream.received()
    log(f"  stream held by {stream.served_by}; the 30 creations served by {dict(sorted(seen['served'].items()))}")
    expect(stream.error is None, f"the event stream failed: {stream.error}")
    expect(len(seen["served"]) == len(COPIES), f"the creations did not reach every copy: {seen['served']}")
    wanted = set(created)
    got = [(t, data["id"]) for t, kind, _, data in events if kind == "task.created" and data.get("id") in wanted]
    in_time = [task_id for t, task_id in got if t <= seen["burst_start"] + 5]
    expect(len(in_time) == 30,
           f"{len(in_time)} of 30 task.created events within 5 s ({len(got)} in all)")
    expect([task_id for _, task_id in got] == created,
           f"task.created events not one per task in creation order: {[i for _, i in got]} vs {created}")
    places = [cursor_key(event_id) for _, _, event_id, _ in events]
    for before, after in zip(places, places[1:]):
        expect(before < after, f"event ids do not strictly increase: {before} then {after}")
    listed = [change["id"] for change in seen["since_before"] if change["type"] == "task.created"]
    expect(listed == created, f"GET …/changes since the cursor before the burst lists {listed}, created {created}")
    last = max(t for t, _ in got)
    log(f"  30 task.created in creation order; last one {1000 * (last - seen['burst_end']):.0f} ms after the last 201; "
        f"{len(events)} events, ids strictly increasing; …/changes since the cursor agrees")
    return (f"stream on {stream.served_by}, creations on {len(seen['served'])} copies, "
            f"all 30 events {last - seen['burst_start']:.2f} s after the burst began")


def check_reminder(seen):
    task_id, stream = seen["reminder_task"], seen["stream"]
    logged = [c for c in seen["since_start"] if c["type"] == "reminder" and c["id"] == task_id]
    sent = [(t, event_id) for t, kind, event_id, data in stream.received() if kind == "reminder" and data.get("id") == task_id]
    log(f"  task {task_id}, remind_at {seen['remind_at']}: {len(logged)} reminder change(s) in …/changes?since=0, "
        f"{len(sent)} reminder event(s) on the stream")
    expect(len(logged) == 1, f"expected exactly one reminder change for task {task_id}, found {len(logged)}: {logged}")
    expect(len(sent) == 1, f"expected exactly one reminder event for task {task_id} on the stream, got {len(sent)}")
    reminded_at = logged[0]["data"].get("reminded_at")
    expect(reminded_at and reminded_at >= seen["remind_at"], f"reminded_at {reminded_at} before remind_at {seen['remind_at']}")
    late = sent[0][0] - seen["reminder_due"]
    return f"delivered once, {late:.2f} s after due (reminded_at {reminded_at})"


# ---------------------------------------------------------------------------------------------
# e. kill -9 under load


class Load:
    """Client threads sending requests through the balancer on keep-alive connections; each
    request's outcome is recorded."""

    def __init__(self, threads, step):
        self.step = step  # (thread number, request number, state dict) -> (op, method, path, body)
        self.records = []  # dicts: op, start, end, status, served_by, task_id, error
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(threads)]

    def run(self, number):
        conn, state, n = None, {"mine": []}, 0
        while not self.stop.is_set():
            op, method, path, body = self.step(number, n, state)
            n += 1
            record = {"op": op, "thread": number, "start": time.monotonic(), "status": None, "served_by": None,
                      "task_id": None, "error": None}
            try:
                conn = conn or connection()
                answer = call(method, path, body, token=self.token, conn=conn)
                record.update(status=answer.status, served_by=answer.served_by)
                if 200 <= answer.status < 300 and method == "POST":
                    record["task_id"] = answer.json()["id"]
                    state["mine"].append(record["task_id"])
                if not 200 <= answer.status < 300:
                    record["error"] = answer.body[:200].decode(errors="replace")
                    conn.close()  # start afresh: HAProxy may close after an error answer
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                record["error"] = repr(error)
                if conn is not None:
                    conn.close()
                conn = None
            record["end"] = time.monotonic()
            with self.lock:
                self.records.append(record)
            if record["error"] is not None:
                # A client backs off after a failure. Without it one thread could send several
                # requests into the ~20 ms in which a killed copy is dying (its port still
                # accepts) and count that one death several times.
                time.sleep(0.1)
        if conn is not None:
            conn.close()

    def start(self, token):
        self.token = token
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(15)
        return self.records


def describe(record, zero):
    return (f"{record['op']} (client thread {record['thread']}) started {record['start'] - zero:+.3f} s, "
            f"ended {record['end'] - zero:+.3f} s "
            f"(from the kill): {record['status'] or 'no answer'} via {record['served_by'] or '-'} {record['error'] or ''}")


def check_sigkill(user):
    victim = COPIES[1]

    def create(number, n, state):
        return "create", "POST", user.path("/tasks"), {"title": f"load {number}-{n}"}

    load = Load(8, create)
    began = time.monotonic()
    load.start(user.token)
    time.sleep(2)
    killed_at = time.monotonic()
    victim.stop(signal.SIGKILL)
    # The process is gone (reaped) some milliseconds after the signal: tearing down its threads
    # and sockets takes that long, and requests that reach it meanwhile are in flight on it.
    gone_at = time.monotonic()
    down_at = wait_status(victim.name, "DOWN", timeout=5)
    time.sleep(max(0.0, began + 6 - time.monotonic()))
    records = load.finish()

    acked = [r["task_id"] for r in records if r["task_id"] is not None]
    # A request lost with the copy is a 502 when it was the first on its client connection;
    # on a later one HAProxy closes the client's connection without an answer (and without a
    # log line): the keep-alive convention, under which a client may resend.
    failed = [r for r in records if r["status"] is None or not 200 <= r["status"] < 300]
    before = collections.Counter(r["served_by"] for r in records if r["start"] < killed_at and r["status"] == 201)
    after = collections.Counter(r["served_by"] for r in records if r["start"] >= gone_at and r["status"] == 201)
    log(f"  8 threads, {len(records)} requests in {records and max(r['end'] for r in records) - began:.1f} s; "
        f"{len(acked)} acknowledged (201); killed {victim.name} (kill -9) at +{killed_at - began:.1f} s; "
        f"gone {1000 * (gone_at - killed_at):.0f} ms after the signal, DOWN in HAProxy after {1000 * (down_at - killed_at):.0f} ms")
    log(f"  201s per copy, requests started before the kill: {dict(sorted(before.items()))}; "
        f"after the copy was gone: {dict(sorted(after.items()))}")
    for record in failed:
        log(f"  failed: {describe(record, killed_at)}")

    stored = all_task_ids(user.id, user.token)
    lost = [task_id for task_id in acked if task_id not in stored]
    log(f"  listed {len(stored)} tasks: {len(lost)} acknowledged ids missing")

    victim.start()
    victim.wait_ready()
    up_at = wait_status(victim.name, "UP")
    log(f"  {victim.name} restarted on port {victim.port}; HAProxy saw it UP {up_at - killed_at:.1f} s after the kill")

    expect(not lost, f"{len(lost)} acknowledged creations lost: {lost[:20]}")
    # In flight on the killed copy: sent before it was gone, and not answered before the signal.
    late = [r for r in failed if not (r["start"] < gone_at and r["end"] > killed_at)]
    expect(not late, f"{len(late)} failed requests were not in flight on {victim.name} while it died: "
           + "; ".join(describe(r, killed_at) for r in late))
    expect(victim.name not in after, f"{victim.name} answered requests sent after it was killed")
    expect(len(after) == len(COPIES) - 1, f"requests after the kill were not spread over the other copies: {after}")
    return (f"{len(acked)} acknowledged creates, none lost; {len(failed)} failed, all in flight on {victim.name} "
            f"as it died; DOWN in HAProxy after {1000 * (down_at - killed_at):.0f} ms")


# ---------------------------------------------------------------------------------------------
# f. Rolling restart


def check_rolling_restart(user):
    def mixed(number, n, state):
        kind = n % 3
        if kind == 0:
            return "list", "GET", user.path("/tasks?limit=10"), None
        if kind == 2 and state["mine"]:
            task_id = state["mine"][n % len(state["mine"])]
            return "patch", "PATCH", user.path(f"/tasks/{task_id}"), {"title": f"rolled {number}-{n}"}
        return "create", "POST", user.path("/tasks"), {"title": f"rolling {number}-{n}"}

    load = Load(4, mixed)
    began = time.monotonic()
    load.start(user.token)
    time.sleep(0.3)
    steps = []
    try:
        for copy in COPIES:
            t0 = time.monotonic()
            haproxy(f"set server copies/{copy.name} state maint")
            drained = wait_for(f"{copy.name}'s requests to end",
                               lambda: servers()[copy.name]["scur"] == "0", timeout=10)
            status = copy.stop(signal.SIGTERM)
            stopped = time.monotonic()
            expect(status == 0, f"{copy.name} exited with status {status} on SIGTERM")
            copy.start()
            ready = copy.wait_ready()
            haproxy(f"set server copies/{copy.name} state ready")
            up = wait_status(copy.name, "UP")
            steps.append(f"{copy.name}: drained {1000 * (drained - t0):.0f} ms, stopped {1000 * (stopped - drained):.0f} ms, "
                         f"ready {1000 * (ready - stopped):.0f} ms, UP {1000 * (up - ready):.0f} ms")
            log(f"  {steps[-1]}")
            time.sleep(0.3)  # let it take traffic before the next one goes
    finally:
        records = load.finish()
    failed = [r for r in records if r["status"] is None or not 200 <= r["status"] < 300]
    ops = collections.Counter(r["op"] for r in records)
    per_copy = collections.Counter(r["served_by"] for r in records)
    log(f"  {len(records)} requests in {time.monotonic() - began:.1f} s ({dict(ops)}), per copy {dict(sorted(per_copy.items()))}, "
        f"{len(failed)} failed")
    for record in failed:
        log(f"  failed: {record['op']} at +{record['start'] - began:.3f} s: {record['status'] or 'no answer'} "
            f"via {record['served_by'] or '-'} {record['error'] or ''}")
    expect(not failed, f"{len(failed)} of {len(records)} requests failed during the rolling restart")
    acked = {r["task_id"] for r in records if r["task_id"] is not None}
    lost = acked - all_task_ids(user.id, user.token)
    expect(not lost, f"{len(lost)} acknowledged creations lost: {sorted(lost)[:20]}")
    return f"{len(records)} requests, all 2xx; {len(acked)} creations all stored"


# ---------------------------------------------------------------------------------------------


def haproxy_log():
    """HAProxy's log (only requests that failed, were retried or redispatched, and server state
    changes): the state changes, a count of the requests retried elsewhere with success, and
    every other request in full."""
    states, rerouted, failed = [], collections.Counter(), []
    with open(os.path.join(WORK, "haproxy.log"), errors="replace") as lines:
        for line in lines:
            line = line.rstrip()
            if line.startswith("["):  # [WARNING]  (pid) : Server copies/app1 is DOWN, …
                states.append(line.split(" : ", 1)[-1])
                continue
            fields = line.split(" ")
            if len(fields) < 12 or not fields[1].startswith("["):
                continue  # the same state change again, as a log line
            status, retries = fields[5], fields[10].rsplit("/", 1)[-1]
            if status.startswith("2") and fields[9] == "----":
                rerouted[(fields[3].split("/")[-1], retries)] += 1
            else:
                failed.append(line)
    log("\n--> HAProxy's log")
    for state in states:
        log(f"  {state}")
    for (server, retries), count in sorted(rerouted.items()):
        log(f"  {count} requests answered 2xx by {server} after retries {retries} ('+': redispatched)")
    for line in failed:
        log(f"  {line}")


def main():
    results = []

    def check(name, run, *args, spent=0.0):
        log(f"\n--> {name}")
        started = time.monotonic() - spent
        try:
            detail, ok = run(*args), True
        except CheckFailed as failure:
            detail, ok = str(failure), False
        except Exception as error:  # a check that broke: fail it, go on with the others
            traceback.print_exc()
            detail, ok = f"broke: {error!r}", False
        if not ok:
            log(f"  FAILED: {detail}")
        results.append((name, ok, time.monotonic() - started, detail))
        return ok

    log(f"\n--> starting three copies on ports {', '.join(map(str, PORTS))}")
    try:
        for copy in COPIES:
            copy.start()
        for copy in COPIES:
            copy.wait_ready()
        for copy in COPIES:
            wait_status(copy.name, "UP")
        log(f"  ready, and UP in HAProxy, {time.monotonic() - START:.1f} s after start")

        user = User()
        check("a. sessions across copies", check_sessions, user)
        if user.id is None:
            user.register()
        user.login()  # the session checks c-f use (a's was revoked)
        check("b. one login budget for every copy", check_login_budget, user)
        log("\n--> c and d: an event stream, a reminder due in 2 s, 30 creations")
        seen, started = None, time.monotonic()
        try:
            seen = observe_stream_and_reminder(user)
        except CheckFailed as failure:
            log(f"  FAILED: {failure}")
            results.append(("c/d. stream and reminder", False, time.monotonic() - started, str(failure)))
        if seen is not None:
            # Both checks read the same 5.5 s of observation.
            spent = time.monotonic() - started
            check("d. events reach a stream on another copy", check_stream, seen, spent=spent)
            check("c. a reminder is delivered exactly once", check_reminder, seen, spent=spent)
        check("e. kill -9 of a copy under load", check_sigkill, user)
        check("f. rolling restart without a failed request", check_rolling_restart, user)
    finally:
        log("\n--> stopping the copies (SIGTERM)")
        for copy in COPIES:
            if copy.proc is not None and copy.proc.poll() is None:
                status = copy.stop(signal.SIGTERM)
                if status != 0:
                    results.append((f"{copy.name} stops cleanly", False, 0.0, f"exit status {status}"))

    haproxy_log()
    log("\n--> the copies' logs (RUST_LOG=warn)")
    problems, warnings = [], 0
    for copy in COPIES:
        with open(copy.log, errors="replace") as lines:
            for line in lines:
                if "panicked" in line or re.search(r"\bERROR\b", line):
                    problems.append(f"{copy.name}: {line.rstrip()}")
                elif re.search(r"\bWARN\b", line):
                    warnings += 1
                    log(f"  {copy.name}: {line.rstrip()}")
    for problem in problems:
        log(f"  {problem}")
    log(f"  {len(problems)} ERROR or panic lines, {warnings} WARN lines")
    if problems:
        results.append(("no errors in the copies' logs", False, 0.0, f"{len(problems)} ERROR or panic lines (above)"))

    log("\n--> summary")
    for name, ok, seconds, detail in results:
        log(f"  {'PASS' if ok else 'FAIL'}  {name} ({seconds:.1f} s): {detail}")
    failed = [name for name, ok, _, _ in results if not ok]
    log(f"\n{len(results) - len(failed)} of {len(results)} passed in {time.monotonic() - START:.1f} s"
        + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
