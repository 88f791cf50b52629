"""The one way sfeventlog runs a SQLite write transaction.

Connections are opened with ``isolation_level=None`` (autocommit), so a
transaction is explicit: ``with immediate(conn):`` takes the write lock at
``BEGIN IMMEDIATE`` (not at the first write, where a lock upgrade could
deadlock), commits when the block ends, and rolls back when it raises or
when the ``COMMIT`` itself fails.  The error in flight is always the one
that propagates: a rollback that fails is logged, never raised in its place.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

LOG = logging.getLogger(__name__)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or roll back on any exception (re-raised)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open, never masking the error in flight.

    SQLite rolls back by itself on some errors (a full disk, say); a second
    ROLLBACK would raise "no transaction is active" in place of the real cause.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            LOG.debug("rollback failed: %s", exc)
