"""sfeventlog-jsonl: an example third-party sfeventlog transport.

Registered as ``jsonl`` in the ``sfeventlog.transports`` entry-point group;
see ``sfeventlog_jsonl.transport``.  Importing this package does no I/O.
"""

from sfeventlog_jsonl.transport import JsonlSettings, JsonlTransport

__all__ = ["JsonlSettings", "JsonlTransport"]
