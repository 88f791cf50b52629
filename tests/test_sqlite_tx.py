"""``sqlite_tx.immediate``: commit, roll back, and never mask the error in flight."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfeventlog.sqlite_tx import immediate


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER"
                 " REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    yield conn
    conn.close()


def rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_a_block_that_ends_commits(conn: sqlite3.Connection) -> None:
    with immediate(conn):
        conn.execute("INSERT INTO parent VALUES (1)")
    assert not conn.in_transaction
    assert rows(conn, "parent") == 1


def test_a_block_that_raises_rolls_back_and_the_error_propagates(
        conn: sqlite3.Connection) -> None:
    with pytest.raises(KeyError, match="boom"), immediate(conn):
        conn.execute("INSERT INTO parent VALUES (1)")
        raise KeyError("boom")
    assert not conn.in_transaction
    assert rows(conn, "parent") == 0


def test_the_write_lock_is_taken_at_begin(conn: sqlite3.Connection, tmp_path: Path) -> None:
    other = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None, timeout=0)
    try:
        with immediate(conn):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_sqlite_having_rolled_back_itself_does_not_mask_the_cause(
        conn: sqlite3.Connection) -> None:
    # As on a full disk: SQLite ends the transaction, then the error arrives.
    # A plain ROLLBACK here would raise "no transaction is active" instead.
    with pytest.raises(ValueError, match="the real cause"), immediate(conn):
        conn.execute("INSERT INTO parent VALUES (1)")
        conn.execute("ROLLBACK")
        raise ValueError("the real cause")
    assert rows(conn, "parent") == 0


def test_a_failed_commit_rolls_back_and_leaves_the_connection_usable(
        conn: sqlite3.Connection) -> None:
    # A deferred foreign key fails at COMMIT, leaving the transaction open.
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), immediate(conn):
        conn.execute("INSERT INTO parent VALUES (1)")
        conn.execute("INSERT INTO child VALUES (1, 99)")
    assert not conn.in_transaction
    assert rows(conn, "parent") == 0 and rows(conn, "child") == 0
    with immediate(conn):
        conn.execute("INSERT INTO parent VALUES (2)")
    assert rows(conn, "parent") == 1
