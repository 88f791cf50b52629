"""Event stores: where delivered events live (MariaDB in production, SQLite embedded)."""

from sfeventlog.store.base import EventStore, SchemaError, WriteResult

__all__ = ["EventStore", "SchemaError", "WriteResult"]
