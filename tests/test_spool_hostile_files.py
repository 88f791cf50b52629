"""Hostile files: an unsafe spool directory, symlinks, planted orphans, and
operator tools that must neither hang nor change anything (issue 13 items
11 and 12).  The suite runs as root, so "another user" is a uid given with
os.chown."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import sfeventlog
from sfeventlog import api
from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError
from sfeventlog.payload import build_payload, encode
from sfeventlog.spool import Spool, prepare_spool_dir, spool_path

SCRIPT = str(Path(sys.executable).with_name("sfeventlog"))
OTHER_UID = 12345
DEAD_PID = 99_999

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another uid")


def _orphan(path: Path, messages: list[str], *, dead_letter: bool = False) -> Path:
    spool = Spool(path)
    for m in messages:
        spool.enqueue(encode(build_payload(event_type="audit", objects=[("instance", "u-1")],
                                           message=m, fqdn="node")))
    if dead_letter:
        row_id = spool.dequeue_batch(1)[0][0]
        spool.move_to_deadletter(row_id, b"{}", reason="rejected", error="bad",
                                 error_class="PermanentError", attempts=1, first_seen=0.0)
    spool.close()
    return path


def _settings(spool_dir: Path, store: Path) -> Settings:
    return Settings(eventlog_transport="sqlite", eventlog_spool_dir=spool_dir,
                    eventlog_sqlite_path=store)


def _stored(store: Path) -> Counter[str]:
    if not store.exists():
        return Counter()
    try:
        with sqlite3.connect(store) as conn:
            return Counter(r[0] for r in conn.execute("SELECT message FROM events"))
    except sqlite3.OperationalError:  # the store creates its tables on first write
        return Counter()


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("unsafe", ["world-writable", "group-writable", "foreign-owned"])
def test_an_unsafe_spool_dir_is_refused_and_a_planted_orphan_never_delivered(
        tmp_path: Path, unsafe: str) -> None:
    spool_dir, store = tmp_path / "spool", tmp_path / "events.sqlite"
    spool_dir.mkdir(mode=0o700)
    planted = _orphan(spool_dir / f"sf-api-{DEAD_PID}.db", ["forged"])
    os.chown(planted, OTHER_UID, OTHER_UID)
    if unsafe == "foreign-owned":
        os.chown(spool_dir, OTHER_UID, OTHER_UID)
    else:
        os.chmod(spool_dir, 0o777 if unsafe == "world-writable" else 0o770)
    with pytest.raises(ConfigError) as err:
        sfeventlog.start("sf-net", _settings(spool_dir, store))
    assert str(spool_dir) in str(err.value)
    api.reset_for_tests(_settings(spool_dir, store))
    assert sfeventlog.add_event("audit", "instance", "u-1", "early") is False, "no raise"
    assert _stored(store) == Counter()
    assert planted.exists()


def test_a_planted_orphan_or_symlink_is_never_adopted(tmp_path: Path) -> None:
    spool_dir, store = tmp_path / "spool", tmp_path / "events.sqlite"
    prepare_spool_dir(spool_dir)
    planted = _orphan(spool_dir / f"sf-api-{DEAD_PID}.db", ["forged"])
    os.chown(planted, OTHER_UID, OTHER_UID)
    elsewhere = _orphan(tmp_path / f"other-{DEAD_PID - 1}.db", ["elsewhere"])
    link = spool_dir / f"sf-api-{DEAD_PID - 1}.db"
    link.symlink_to(elsewhere)
    hardlinked = _orphan(tmp_path / f"hard-{DEAD_PID - 2}.db", ["hardlinked"])
    os.link(hardlinked, spool_dir / f"sf-api-{DEAD_PID - 2}.db")
    _orphan(spool_dir / f"sf-api-{DEAD_PID - 3}.db", ["genuine"])
    before = {p: _digest(p) for p in (planted, elsewhere, hardlinked)}
    sfeventlog.start("sf-net", _settings(spool_dir, store))
    assert sfeventlog.stop()
    assert _stored(store) == Counter({"genuine": 1}), "only our own orphan is delivered"
    assert {p: _digest(p) for p in before} == before, "left exactly as they were"
    assert link.is_symlink()


def test_a_symlink_at_our_own_path_is_never_followed(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    prepare_spool_dir(spool_dir)
    victim = tmp_path / "other-app.sqlite"
    with sqlite3.connect(victim) as conn:
        conn.execute("CREATE TABLE accounts (name TEXT)")
    os.chmod(victim, 0o644)
    before = _digest(victim)
    own = spool_path(spool_dir, "sf-net", os.getpid())
    own.symlink_to(victim)
    sfeventlog.start("sf-net", Settings(eventlog_transport="null", eventlog_spool_dir=spool_dir))
    assert sfeventlog.add_event("audit", "instance", "u-1", "m")
    spool = api.current_spool()
    assert spool is not None and spool.path != own
    sfeventlog.stop()
    assert _digest(victim) == before, "no spool tables, no events, no chmod"
    assert not Path(f"{victim}-wal").exists()


def test_operator_tools_neither_hang_nor_change_anything(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    prepare_spool_dir(spool_dir)
    _orphan(spool_dir / f"gone-{DEAD_PID}.db", ["a", "b"], dead_letter=True)
    os.mkfifo(spool_dir / f"fifo-{DEAD_PID - 1}.db")
    (spool_dir / "backup.db").mkdir()
    (spool_dir / "notes.db").write_text("operator notes\n")

    def listing() -> dict[str, tuple[int, int, float]]:
        return {p.name: (p.lstat().st_ino, p.lstat().st_size, p.lstat().st_mtime)
                for p in spool_dir.iterdir()}

    before = listing()
    status = subprocess.run([SCRIPT, "status", "--spool-dir", str(spool_dir), "--json"],
                            capture_output=True, text=True, timeout=60)
    files = {Path(f["path"]).name: f for f in json.loads(status.stdout)["files"]}
    assert files[f"gone-{DEAD_PID}.db"]["depth"] == 1
    assert f"fifo-{DEAD_PID - 1}.db" not in files and "backup.db" not in files
    listed = subprocess.run([SCRIPT, "deadletter", "--spool-dir", str(spool_dir), "list", "--json"],
                            capture_output=True, text=True, timeout=60)
    # notes.db is a regular file that is not a spool: said on stderr and
    # exit 1 (as status does), while the real dead letters are still listed.
    assert listed.returncode == 1, listed.stderr
    assert "notes.db" in listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [f"gone-{DEAD_PID}.db:1"]
    assert listing() == before, "nothing created, renamed or changed"
