#!/usr/bin/env python3
"""Turns the statements the service logged for each endpoint into pgbench scripts.

Reads a PostgreSQL server log (from a byte offset) written with log_min_duration_statement = 0
while bench/run made one request per endpoint, each preceded by a marker query
`SELECT 'bench-marker:<endpoint>'`. Every statement between two markers, with its logged
parameter values substituted, becomes one line of <out_dir>/<endpoint>.sql. Statements of the
service's background work (reminder claims, NOTIFY, LISTEN) are left out.

usage: capture_sql.py LOG OFFSET OUT_DIR
"""

import re
import sys
from pathlib import Path

STATEMENT = re.compile(r"LOG:\s+duration: [0-9.]+ ms\s+(?:execute [^:]*|statement): (.*)$")
PARAMETERS = re.compile(r"DETAIL:\s+parameters: (.*)$")
MARKER = re.compile(r"SELECT 'bench-marker:([a-z-]+)'")
BACKGROUND = ("reminded_at = now()", "pg_notify", "LISTEN", "_sqlx_migrations", "bench-marker")


def parameters(text):
    """`$1 = 'a', $2 = NULL` -> {1: "'a'", 2: "NULL"} (values stay SQL literals)."""
    values = {}
    pattern = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")
    for match in pattern.finditer(text):
        values[int(match.group(1))] = match.group(2)
    return values


def main():
    log, offset, out_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    scripts, current, pending = {}, None, None

    def flush():
        nonlocal pending
        if pending is not None and current is not None:
            sql, values = pending
            if not any(mark in sql for mark in BACKGROUND):
                for number in sorted(values, reverse=True):
                    sql = sql.replace(f"${number}", values[number])
                scripts.setdefault(current, []).append(sql.rstrip(";") + ";")
        pending = None

    # Each prepared statement logs parse, bind and execute lines; only execute (or a simple
    # `statement`) counts, with the DETAIL line that follows it.
    after_execute = False
    for line in lines:
        marker = MARKER.search(line)
        if marker and "duration:" in line:
            flush()
            current = marker.group(1)
            after_execute = False
            continue
        statement = STATEMENT.search(line)
        if statement:
            flush()
            pending = (statement.group(1), {})
            after_execute = True
            continue
        detail = PARAMETERS.search(line)
        if detail and pending is not None and after_execute:
            pending = (pending[0], parameters(detail.group(1)))
        if "LOG:" in line:
            after_execute = False
    flush()
    out_dir.mkdir(parents=True, exist_ok=True)
    for endpoint, statements in scripts.items():
        (out_dir / f"{endpoint}.sql").write_text("\n".join(statements) + "\n")
        print(f"{endpoint}: {len(statements)} statement(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
