"""The physical limit of the spool: bare sqlite3 inserts, and upstream's enqueue."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

#: The spool's events table without anything sfeventlog adds.
RAW_TABLE = ("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY,"
             " payload BLOB NOT NULL, created_at REAL NOT NULL)")
INSERT = "INSERT INTO events(payload, created_at) VALUES (?, ?)"


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A WAL-mode autocommit connection, as the spool opens its file."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(RAW_TABLE)
    return conn


class RawInsert:
    """One autocommit INSERT per row of a ready-made payload: the limit."""

    def __init__(self, path: Path, payload: bytes, synchronous: str = "NORMAL") -> None:
        self.conn = connect(path, synchronous)
        self.payload = payload

    def one(self) -> None:
        self.conn.execute(INSERT, (self.payload, time.time()))

    def run(self, n: int) -> None:
        execute, payload, now = self.conn.execute, self.payload, time.time
        for _ in range(n):
            execute(INSERT, (payload, now()))

    def close(self) -> None:
        self.conn.close()


class CountingEnqueue(RawInsert):
    """Upstream's enqueue: ``SELECT COUNT(*)`` for the high-water check, then INSERT.

    COUNT(*) walks the whole table, so its cost grows with the backlog.
    """

    def __init__(self, path: Path, payload: bytes, high_water_mark: int) -> None:
        super().__init__(path, payload)
        self.high_water_mark = high_water_mark

    def run(self, n: int) -> None:
        execute, payload, now = self.conn.execute, self.payload, time.time
        for _ in range(n):
            if execute("SELECT COUNT(*) FROM events").fetchone()[0] < self.high_water_mark:
                execute(INSERT, (payload, now()))
