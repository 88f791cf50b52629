"""What a CLI user sees when a command fails: one line and an exit code.

Every exception a command lets out is mapped here, so no traceback reaches
a user unless they asked for it with ``--debug`` (or ``-v``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from dataclasses import dataclass

from pydantic import SecretStr, ValidationError

from sfeventlog.cli.common import UsageError
from sfeventlog.config import ENV_PREFIX, Settings
from sfeventlog.errors import SfEventlogError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: Longest echo of a bad configuration value, so one line stays one line.
_MAX_SHOWN_VALUE = 40


@dataclass(frozen=True)
class Failure:
    """The one line to print (without the ``sfeventlog CMD:`` prefix) and the exit code."""

    message: str
    exit_code: int


def describe(exc: BaseException) -> Failure:
    """Map an exception a command raised onto what the user is told."""
    if isinstance(exc, UsageError):
        return Failure(str(exc), EXIT_USAGE)
    if isinstance(exc, ValidationError):
        return Failure(_validation_message(exc), EXIT_USAGE)
    if isinstance(exc, ValueError):
        # The API's contract: a ValueError names the bad argument.
        return Failure(f"invalid value: {_one_line(str(exc))}", EXIT_USAGE)
    if isinstance(exc, SfEventlogError):
        return Failure(str(exc), EXIT_FAILURE)
    if isinstance(exc, OSError):
        return Failure(_os_message(exc), EXIT_FAILURE)
    if isinstance(exc, sqlite3.Error):
        return Failure(f"SQLite error: {_one_line(str(exc))}", EXIT_FAILURE)
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", EXIT_FAILURE)
    return Failure(f"unexpected error: {type(exc).__name__}: {_one_line(str(exc))}"
                   " (run with --debug for the traceback)", EXIT_FAILURE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _validation_message(exc: ValidationError) -> str:
    if exc.title != Settings.__name__:
        return f"invalid value: {_one_line(str(exc))}"
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        info = Settings.model_fields.get(field)
        shown = ""
        if info is not None and info.annotation is not SecretStr and "input" in error:
            value = repr(error["input"])
            if len(value) > _MAX_SHOWN_VALUE:
                value = value[:_MAX_SHOWN_VALUE] + "..."
            shown = f" (got {value})"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{ENV_PREFIX}{field.upper()}: {message}{shown}")
    return "configuration error: " + "; ".join(problems)


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{exc.strerror or 'address already in use'}: choose another port"
    where = f": {exc.filename}" if exc.filename is not None else ""
    return f"{exc.strerror or _one_line(str(exc))}{where}"


def silence_broken_pipe() -> None:
    """The reader of stdout went away (``... | head``): stop writing, quietly.

    Python's documented idiom for SIGPIPE: point stdout at devnull so the
    interpreter's final flush does not fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

