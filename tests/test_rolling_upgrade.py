"""Rolling upgrade: upstream daemons' spools next to sfeventlog's (issue 10 §1).

Real upstream-format spool files written by real processes (see
``tests/upstream_spool.py``): one daemon stays alive and keeps writing
without ever taking a flock, others are dead, some with a leftover
``-wal``.  sfeventlog must rescue the dead ones, leave the live one alone
while its process lives, rescue it once it dies, and store every event of
every payload generation exactly once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.orphans import rescue_orphans
from tests import upstream_spool

WRITER = str(Path(upstream_spool.__file__))


def _writer(spool_dir: Path, daemon: str, tag: str, count: int, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, WRITER, str(spool_dir), daemon, tag, str(count), mode],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().split()[0] == "ready"
    return proc


def _stored(store: Path) -> Counter[str]:
    if not store.exists():
        return Counter()
    try:
        with sqlite3.connect(store) as conn:
            return Counter(r[0] for r in conn.execute("SELECT message FROM events"))
    except sqlite3.OperationalError:  # the store creates its tables on first write
        return Counter()


def _wait_for(store: Path, n: int, timeout: float = 20.0) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = _stored(store)
        if sum(got.values()) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_live_upstream_spool_is_left_alone_and_every_event_is_stored_once(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir(mode=0o700)
    store = tmp_path / "events.sqlite"
    # Dead upstream daemons: a crash (leftover -wal), a kill -9, a clean exit.
    for tag, mode in (("exited", "exit"), ("closed", "close")):
        _writer(spool_dir, "sf-net", tag, 40, mode).wait()
    killed = _writer(spool_dir, "sf-api", "killed", 40, "wait")
    killed.kill()
    killed.wait()
    assert len(list(spool_dir.glob("*.db-wal"))) == 2, "two dead files keep a -wal"
    live = _writer(spool_dir, "sf-api", "live", 40, "live")
    try:
        live_file = spool_dir / f"sf-api-{live.pid}.db"
        inode = live_file.stat().st_ino
        settings = Settings(eventlog_transport="sqlite", eventlog_spool_dir=spool_dir,
                            eventlog_sqlite_path=store)
        sfeventlog.start("sf-scheduler", settings)
        got = _wait_for(store, 120)
        assert sum(got.values()) == 120 and set(got.values()) == {1}, "the dead three, once each"
        assert not [m for m in got if m.startswith("live-")], "the live file was not taken"
        time.sleep(0.3)
        spool = api.current_spool()
        assert spool is not None
        assert rescue_orphans(spool) == 0, "a second look still leaves the live file alone"
        assert live_file.stat().st_ino == inode
        assert live.poll() is None
        status = subprocess.run([str(Path(sys.executable).with_name("sfeventlog")), "status",
                                 "--spool-dir", str(spool_dir), "--json"],
                                capture_output=True, text=True, timeout=60)
        files = {Path(f["path"]).name: f for f in json.loads(status.stdout)["files"]}
        assert files[live_file.name]["owner_alive"] is True, "status agrees: upstream daemon alive"
    finally:
        live.send_signal(signal.SIGTERM)
        assert live.stdout is not None
        total = int(live.stdout.readline().split()[1])
        live.wait()
    assert total > 40, "the live daemon kept writing meanwhile"
    assert rescue_orphans(spool) == total, "rescued once its process is gone"
    got = _wait_for(store, 120 + total)
    expected = Counter({f"{tag}-{i}": 1 for tag in ("exited", "closed", "killed") for i in range(40)})
    expected.update({f"live-{i}": 1 for i in range(total)})
    assert got == expected
    assert not list(spool_dir.glob("sf-api-*")) and not list(spool_dir.glob("sf-net-*"))
    sfeventlog.stop()
    _check_fields(store, total)


def _check_fields(store: Path, live_total: int) -> None:
    """Every payload generation arrives field for field."""
    with sqlite3.connect(store) as conn:
        rows = {m: (r, json.loads(e)) for m, r, e in
                conn.execute("SELECT message, request_id, extra FROM events")}
        objects = Counter(t for (t,) in conn.execute("SELECT object_type FROM event_objects"))
    for message, (request_id, extra) in rows.items():
        index = message.rpartition("-")[2]
        assert request_id == f"req-{message}", "phase 1: request-id lifted out of extra"
        assert extra == {"index": int(index), "nested": {"a": "x", "b": [1, 2]}}
    events = len(rows)
    assert events == 120 + live_total
    assert objects == {"instance": events, "network": events}, "pairs and dicts, UUIDs as str"

