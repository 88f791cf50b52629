"""Orphan rescue: take over the spool files of processes that died."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from sfeventlog.ownership import SPOOL_SUFFIX, claim_orphan, regular_file
from sfeventlog.salvage import salvage_rows
from sfeventlog.spool import Spool, is_disk_full, move_aside

LOG = logging.getLogger(__name__)

# Failures of the rescue itself, not damage of the orphan: no space or a
# read-only disk for our writes, a lock held elsewhere, no memory.
_OUR_TROUBLE = frozenset({
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL,
})


def _orphan_is_damaged(exc: sqlite3.DatabaseError, path: Path) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return True
    if code & 0xFF in _OUR_TROUBLE or is_disk_full(exc, path):
        return False
    return True


def _remove_spool_files(path: Path) -> None:
    for suffix in ("-wal", "-shm", ""):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass


def _salvage(spool: Spool, aside: Path) -> int:
    try:
        return spool.insert_raw(salvage_rows(aside))
    except sqlite3.Error as exc:
        # The damaged file stays aside with its rows, for an operator.
        LOG.error("cannot copy the salvaged rows of %s into %s: %s", aside, spool.path, exc)
        return 0


def rescue_orphans(spool: Spool, *, deferred: list[Path] | None = None) -> int:
    """Merge every orphaned spool file next to ``spool`` into it, then remove them.

    Which files are orphans is decided by ``ownership.claim_orphan``: no
    flock, no open SQLite connection, and no live process with the pid in
    the name, and a regular file of our own.  Everything else is left
    alone.  Only a damaged orphan is moved aside (and its readable rows salvaged);
    when the rescue's own write fails (a full or read-only disk) the orphan
    is left in place, untouched, and appended to ``deferred`` for a later
    try.  Returns the number of queued rows taken over.
    """
    total = 0
    for path in sorted(spool.path.parent.glob(f"*{SPOOL_SUFFIX}")):
        if path == spool.path or not regular_file(path):
            continue
        with claim_orphan(path) as fd:
            if fd is None:
                continue
            try:
                moved = spool.absorb(path)
            except sqlite3.DatabaseError as exc:
                if not _orphan_is_damaged(exc, spool.path):
                    LOG.warning("cannot rescue orphan %s now (%s); left in place for a later try",
                                path, exc)
                    if deferred is not None:
                        deferred.append(path)
                    continue
                total += _salvage(spool, move_aside(path, str(exc)))
                continue
            _remove_spool_files(path)
            total += moved
            if moved:
                LOG.info("rescued %d spooled events from orphan %s", moved, path)
    return total
