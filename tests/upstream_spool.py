"""Spool files exactly as an upstream Shaken Fist daemon writes them.

Built from upstream's facts (``shakenfist/eventlog_spool.py``): one file
``<daemon>-<pid>.db``, table ``events(id INTEGER PRIMARY KEY AUTOINCREMENT,
payload BLOB NOT NULL, created_at REAL NOT NULL)`` and ``schema_meta(key,
value)`` holding ``version = 1``, WAL, ``synchronous = NORMAL``, one
autocommit insert per event of ``json.dumps(payload, default=str)``, and
never a flock.  Payloads cycle through the generations upstream has
written: phase 1 (no ``event_uuid``/``request_id``; the request id inside
``extra`` under ``request-id``; ``extra`` pretty-printed with indent=4,
sort_keys) and phase 2, with objects as ``[type, uuid]`` pairs and as dicts.

Run as a script: ``upstream_spool.py SPOOL_DIR DAEMON TAG COUNT MODE``.
It prints ``ready <pid>`` after COUNT events.  MODE ``exit`` then leaves
without closing (a leftover ``-wal``), ``close`` closes cleanly first,
``wait`` blocks until killed, ``live`` keeps writing one event every 5 ms
and, on SIGTERM, prints ``total <n>`` and leaves without closing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
import uuid
from typing import Any

# Values upstream passes: uuid.UUID objects, which json.dumps(default=str) turns to str.
OBJECT = uuid.UUID("6f1c2c3e-7d61-4b8a-9a4b-3c1e0f0d9a11")


def payload(tag: str, i: int) -> dict[str, Any]:
    """Event ``i`` of writer ``tag``: its message is ``<tag>-<i>``, unique."""
    extra: dict[str, Any] = {"index": i, "nested": {"b": [1, 2], "a": "x"}}
    objects: list[Any]
    if i % 2:
        objects = [{"object_type": "instance", "object_uuid": OBJECT},
                   {"object_type": "network", "object_uuid": f"net-{i}"}]
    else:
        objects = [["instance", OBJECT], ["network", f"net-{i}"]]
    body: dict[str, Any] = {"event_type": "audit", "fqdn": "node-01.example.com",
                            "duration": 0.25, "message": f"{tag}-{i}",
                            "timestamp": time.time(), "objects": objects}
    if i % 4 < 2:  # phase 1
        extra["request-id"] = f"req-{tag}-{i}"
        body["extra"] = json.dumps(extra, indent=4, sort_keys=True)
    else:  # phase 2
        body["event_uuid"] = str(uuid.uuid4())
        body["request_id"] = f"req-{tag}-{i}"
        body["extra"] = json.dumps(extra, indent=4, sort_keys=True)
    return body


def open_spool(spool_dir: str, daemon: str) -> sqlite3.Connection:
    path = os.path.join(spool_dir, f"{daemon}-{os.getpid()}.db")
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " payload BLOB NOT NULL, created_at REAL NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS schema_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT OR IGNORE INTO schema_meta (key, value) VALUES (?, ?)", ("version", "1"))
    return conn


def enqueue(conn: sqlite3.Connection, tag: str, i: int) -> None:
    blob = json.dumps(payload(tag, i), default=str).encode("utf-8")
    conn.execute("INSERT INTO events (payload, created_at) VALUES (?, ?)", (blob, time.time()))


def main(spool_dir: str, daemon: str, tag: str, count: int, mode: str) -> None:
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    conn = open_spool(spool_dir, daemon)
    for i in range(count):
        enqueue(conn, tag, i)
    print(f"ready {os.getpid()}", flush=True)
    if mode == "close":
        conn.close()
    elif mode == "wait":
        time.sleep(120)
    elif mode == "live":
        i = count
        while not stop:
            enqueue(conn, tag, i)
            i += 1
            time.sleep(0.005)
        print(f"total {i}", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
