"""Orphan rescue: take over the spool files of processes that died."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from sfeventlog.ownership import SPOOL_SUFFIX, claim_orphan, regular_file
from sfeventlog.salvage import salvage_rows
from sfeventlog.spool import Spool, move_aside

LOG = logging.getLogger(__name__)


def _remove_spool_files(path: Path) -> None:
    for suffix in ("-wal", "-shm", ""):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass


def rescue_orphans(spool: Spool) -> int:
    """Merge every orphaned spool file next to ``spool`` into it, then remove them.

    Which files are orphans is decided by ``ownership.claim_orphan``: no
    flock, no open SQLite connection, and no live process with the pid in
    the name, and a regular file of our own.  Everything else is left
    alone.  Returns the number of queued rows taken over.
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
                aside = move_aside(path, str(exc))
                total += spool.insert_raw(salvage_rows(aside))
                continue
            _remove_spool_files(path)
            total += moved
            if moved:
                LOG.info("rescued %d spooled events from orphan %s", moved, path)
    return total
