"""Log output for the ``sfeventlog`` command: plain text or one JSON object per line.

Only the CLI calls :func:`configure`; a program that merely imports
sfeventlog gets no handlers from it (the library logs to its own loggers and
leaves the output to the application).

Without ``tracebacks`` (the default: no ``-v``/``--debug``), a logged
exception is one line that says where to find the traceback, in both
formats: a user never gets a traceback they did not ask for.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, get_args

from pythonjsonlogger.json import JsonFormatter

from sfeventlog.config import LogFormat

LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields passed with ``extra=`` (event_type, sfeventlog_event, ...) follow
# these in each JSON object.
_JSON = "%(asctime)s %(levelname)s %(name)s %(message)s"
_HINT = " (traceback with --debug)"


class _QuietText(logging.Formatter):
    """Text lines without tracebacks."""

    def formatException(self, ei: Any) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        # logging caches the traceback text on the record; never show it.
        record.exc_text = None
        text = super().format(record)
        return text.rstrip("\n") + (_HINT if record.exc_info else "")


class _QuietJson(JsonFormatter):
    """JSON lines without tracebacks (a ``traceback`` field says where it is)."""

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        had = record.exc_info
        record.exc_info, record.exc_text = None, None
        try:
            super().add_fields(log_record, record, message_dict)
        finally:
            record.exc_info = had
        log_record.pop("exc_info", None)
        if had:
            log_record["traceback"] = _HINT.strip(" ()")


def formatter(fmt: LogFormat, *, tracebacks: bool = True) -> logging.Formatter:
    """The formatter for ``fmt``; JSON keeps every structured field."""
    renames = {"levelname": "level", "name": "logger"}
    if fmt == "json":
        cls = JsonFormatter if tracebacks else _QuietJson
        return cls(_JSON, rename_fields=renames)
    return logging.Formatter(_TEXT) if tracebacks else _QuietText(_TEXT)


def configure(level: int, fmt: LogFormat, *, tracebacks: bool) -> None:
    """Send the root logger's records to stderr in ``fmt``, replacing handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt, tracebacks=tracebacks))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
