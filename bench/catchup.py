#!/usr/bin/env python3
"""Times an event stream that resumes from the start of a user's change log.

Usage: catchup.py PORT USER_ID TOKEN LAST_PLACE

Opens GET /api/v1/users/USER_ID/events with `Last-Event-ID: 0` and reads until the event whose
cursor is at LAST_PLACE (`{xid}.{id}`, the newest change of the seed: bench/run takes it right
after seeding) has arrived. Prints the number of events, the seconds from sending the request to
that event, and events per second. Gives up after two minutes.
"""

import http.client
import sys
import time

DEADLINE_SECONDS = 120


def main() -> None:
    port, user_id, token, last = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    conn.request(
        "GET",
        f"/api/v1/users/{user_id}/events",
        headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "0"},
    )
    response = conn.getresponse()
    if response.status != 200:
        sys.exit(f"catchup.py: the stream answered {response.status}")
    events = 0
    while True:
        if time.perf_counter() - started > DEADLINE_SECONDS:
            sys.exit(f"catchup.py: {events} events in {DEADLINE_SECONDS} s, none at {last.decode()}")
        line = response.readline()
        if not line:
            sys.exit(f"catchup.py: the stream ended after {events} events")
        if line.startswith(b"event:"):
            events += 1
        elif line.startswith(b"id:"):
            if line[3:].strip().split(b"-")[0] == last:
                break
    # The last event's own lines follow its `id:`; it has arrived once its id has.
    seconds = time.perf_counter() - started
    print(f"{events + 1} {seconds:.3f} {(events + 1) / seconds:.0f}")


if __name__ == "__main__":
    main()
