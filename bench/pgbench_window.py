#!/usr/bin/env python3
"""Runs pgbench and reports the TPS of a window that starts once its connections are warm.

bench/run gives pgbench one script per seeded user, so each connection prepares a user's
statements the first time it runs that user's script (a synchronous prepare and a first plan
per statement): 64 connections x 100 users x up to 6 statements, which takes seconds and would
be counted against the database if the whole run were. So this script starts pgbench with a
per-transaction log (`-l`), follows the log while it runs, and opens the measured window once
THRESHOLD percent (99) of the (connection, script) pairs have run at least once, or once
MAX_WARMUP seconds have passed (the coverage printed then tells); it stops pgbench (SIGINT)
DURATION seconds later, which leaves "could not receive data from client" lines in the server
log. TPS = the transactions that completed inside the window / DURATION. Also printed: the
coverage at the start of the window and the warm-up it took.

Log lines (PostgreSQL 15): "client_id transaction_no time script_no time_epoch time_us …"; a
failed transaction has no number in `time` and does not count. Each pgbench thread writes its
own file, in completion order, buffered: the log is complete up to the oldest of the threads'
latest entries, and only that far is the window judged.

usage: pgbench_window.py --duration S --max-warmup S --clients N --threads N --scripts N
                         --log-prefix PATH --output FILE -- pgbench ARGS…
  (-T, -l and --log-prefix are added; pgbench's own output goes to FILE)
prints: "<tps> <coverage percent at the window's start> <warm-up seconds>"
"""

import argparse
import glob
import re
import signal
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--max-warmup", type=float, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--scripts", type=int, required=True)
    parser.add_argument("--threshold", type=float, default=99.0)
    parser.add_argument("--log-prefix", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    cap = int(args.max_warmup + args.duration) + 2
    command += ["-T", str(cap), "-l", "--log-prefix", args.log_prefix]
    pairs = args.clients * args.scripts

    started = time.time()
    with open(args.output, "w") as output:
        pgbench = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    files = {}  # path -> {"offset", "rest", "last"}
    first_run = {}  # (client, script) -> completion time of its first transaction, µs
    completions = []  # completion times, µs
    window_start = None
    coverage = 0.0
    stopped = False

    def read_logs():
        prefix = f"{args.log_prefix}.{pgbench.pid}"
        for path in glob.glob(prefix) + glob.glob(f"{prefix}.*"):
            state = files.setdefault(path, {"offset": 0, "rest": "", "last": None})
            with open(path) as handle:
                handle.seek(state["offset"])
                data = state["rest"] + handle.read()
                state["offset"] = handle.tell()
            lines = data.split("\n")
            state["rest"] = lines.pop()
            for line in lines:
                fields = line.split()
                if len(fields) < 6:
                    continue
                at = int(fields[4]) * 1_000_000 + int(fields[5])
                state["last"] = at
                if not fields[2].isdigit():
                    continue
                completions.append(at)
                key = (int(fields[0]), int(fields[3]))
                if key not in first_run:
                    first_run[key] = at

    def horizon():
        """The time up to which every thread's log is complete."""
        lasts = [state["last"] for state in files.values()]
        if len(lasts) < args.threads or None in lasts:
            return None
        return min(lasts)

    while True:
        exited = pgbench.poll() is not None
        read_logs()
        now = horizon()
        if now is not None:
            if window_start is None:
                covered = sum(1 for at in first_run.values() if at <= now)
                if (100 * covered / pairs >= args.threshold
                        or now / 1e6 - started >= args.max_warmup):
                    window_start = now
                    coverage = 100 * covered / pairs
            if window_start is not None and now >= window_start + args.duration * 1e6:
                break
        if exited:
            break
        time.sleep(0.2)

    if pgbench.poll() is None:
        pgbench.send_signal(signal.SIGINT)
        stopped = True
    code = pgbench.wait()
    if not stopped and code != 0:
        sys.exit(f"pgbench_window.py: pgbench exited with {code} (see {args.output})")
    with open(args.output) as output:
        if re.search(r"aborted|ERROR|FATAL", output.read()):
            sys.exit(f"pgbench_window.py: a pgbench client failed (see {args.output})")
    now = horizon()
    if window_start is None or now is None or now < window_start + args.duration * 1e6:
        sys.exit(f"pgbench_window.py: pgbench stopped before the window was complete "
                 f"(see {args.output})")
    end = window_start + args.duration * 1e6
    count = sum(1 for at in completions if window_start < at <= end)
    print(f"{count / args.duration:.0f} {coverage:.1f} {window_start / 1e6 - started:.1f}")


if __name__ == "__main__":
    main()
