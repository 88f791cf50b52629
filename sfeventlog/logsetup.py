"""Log output for the ``sfeventlog`` command: plain text or one JSON object per line.

Only the CLI calls :func:`configure`; a program that merely imports
sfeventlog gets no handlers from it (the library logs to its own loggers and
leaves the output to the application).
"""

from __future__ import annotations

import logging
import sys
from typing import get_args

from pythonjsonlogger.json import JsonFormatter

from sfeventlog.config import LogFormat

LOG_FORMATS: tuple[str, ...] = get_args(LogFormat)

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields passed with ``extra=`` (event_type, object_uuid, ...) follow these
# in each JSON object.
_JSON = "%(asctime)s %(levelname)s %(name)s %(message)s"


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter for ``fmt``; JSON keeps every structured field."""
    if fmt == "json":
        return JsonFormatter(_JSON, rename_fields={"levelname": "level", "name": "logger"})
    return logging.Formatter(_TEXT)


def configure(level: int, fmt: LogFormat) -> None:
    """Send the root logger's records to stderr in ``fmt``, replacing handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
