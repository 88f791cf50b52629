"""Orphan rescue: take over the spool files of processes that died."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from pathlib import Path

from sfeventlog.salvage import salvage_rows
from sfeventlog.spool import CORRUPT_MARKER, SPOOL_SUFFIX, Spool, move_aside

LOG = logging.getLogger(__name__)


def _remove_spool_files(path: Path) -> None:
    for suffix in ("-wal", "-shm", ""):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass


def rescue_orphans(spool: Spool) -> int:
    """Merge every unowned spool file next to ``spool`` into it, then remove them.

    A file is unowned when its exclusive ``flock`` can be taken: a live
    owner always holds it, so a live process's file is never touched.
    Returns the number of queued rows taken over.
    """
    total = 0
    for path in sorted(spool.path.parent.glob(f"*{SPOOL_SUFFIX}")):
        if path == spool.path or CORRUPT_MARKER in path.name:
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            # Another rescuer may have merged and unlinked it meanwhile.
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue
            try:
                moved = spool.absorb(path)
            except sqlite3.DatabaseError as exc:
                aside = move_aside(path, str(exc))
                total += spool.insert_raw(salvage_rows(aside))
                continue
            _remove_spool_files(path)
            total += moved
            if moved:
                LOG.info("rescued %d spooled events from orphan %s", moved, path)
        finally:
            os.close(fd)
    return total
