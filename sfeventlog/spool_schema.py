"""The tables of a spool file, in one place: the queue, dead letters and the
orphan merge create, check and copy them from here."""

from __future__ import annotations

import sqlite3

# events.id is a plain rowid alias, not AUTOINCREMENT: that would update
# sqlite_sequence in every enqueue transaction (about a third of its cost).
# A rowid is only reused after the highest row is deleted, and the drainer
# deletes oldest first, so ids stay in insertion order among waiting rows.
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deadletter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    error_class TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rescued (spool_id TEXT PRIMARY KEY, rescued_at REAL NOT NULL);
"""
# Columns the code relies on; a file whose tables lack them is foreign.
REQUIRED_COLUMNS = {
    "events": {"id", "payload", "created_at"},
    "deadletter": {"payload", "created_at", "reason", "error", "error_class", "attempts",
                   "first_seen", "last_seen"},
    "meta": {"key", "value"},
    "rescued": {"spool_id", "rescued_at"},
}


def check_columns(conn: sqlite3.Connection) -> None:
    """``sqlite3.DatabaseError`` unless every table has the columns the code relies on."""
    for table, needed in REQUIRED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not needed <= have:
            raise sqlite3.DatabaseError(
                f"table {table} lacks column(s) {', '.join(sorted(needed - have))}")
