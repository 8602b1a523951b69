"""What the Python checks in scripts/ share: failing a check, logging, and one HTTP request with
its answer. Standard library only; imported by balanced_copies.py and
check_sqlite_to_postgres.py, which run from this folder."""

import collections
import http.client
import json


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def log(message=""):
    print(message, flush=True)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> list of values
        self.body = body

    def header(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def code(self):
        try:
            return self.json().get("code")
        except (ValueError, AttributeError):
            return None

    @property
    def served_by(self):
        """The copy that answered, from the header HAProxy adds (balanced-copies)."""
        return self.header("x-served-by") or "?"

    def cookie(self, name):
        for value in self.headers.get("set-cookie", []):
            key, _, rest = value.partition("=")
            if key.strip() == name:
                return rest.split(";", 1)[0]
        return None

    def __str__(self):
        return f"{self.status} {self.body[:300].decode(errors='replace')}"


def connection(port, source=None, timeout=10):
    return http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
    )


def call(method, path, port, body=None, token=None, headers=None, conn=None, source=None):
    """One request to 127.0.0.1:`port`; on `conn` when given (kept open), else on a connection
    of its own (from `source` when given)."""
    own = conn is None
    if own:
        conn = connection(port, source)
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read()
        received = collections.defaultdict(list)
        for name, value in response.getheaders():
            received[name.lower()].append(value)
        return Answer(response.status, dict(received), payload)
    finally:
        if own:
            conn.close()
