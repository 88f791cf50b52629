"""``jsonl``: append events to a JSON-lines file, once per ``event_uuid``.

How it meets the ``sfeventlog.transport.Transport`` contract:

* No I/O in ``__init__``: it only reads settings.  The file is opened by
  each ``record_event_batch`` call.
* Durable before return: lines are written with one ``write`` and then
  ``fsync``-ed (and the directory too when the file was just created).
* Idempotent on ``event_uuid``: under an exclusive ``flock`` the transport
  first indexes whatever was appended since it last looked (by this or any
  other process), then writes only records it has not seen.
* A torn last line (a writer died mid-append) was never acknowledged, so it
  is cut off before the next append.
* ``OSError`` (directory missing, not writable, disk full) raises
  ``RetryableError``: the same batch can succeed once an operator fixes it.
  A record whose line is longer than ``eventlog_jsonl_max_line_bytes``, or
  that cannot be encoded as UTF-8, raises ``PermanentError`` and nothing of
  that batch is written.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field
from sfeventlog.config import Settings
from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.records import EventRecord
from sfeventlog.transport import Transport

LOG = logging.getLogger(__name__)

PATH_KEY = "eventlog_jsonl_path (env SHAKENFIST_EVENTLOG_JSONL_PATH)"


class JsonlSettings(Settings):
    """The core settings plus this plugin's own keys (same ``SHAKENFIST_`` prefix)."""

    eventlog_jsonl_path: Path = Path("/srv/shakenfist/eventlog/events.jsonl")
    eventlog_jsonl_max_line_bytes: int = Field(default=65536, ge=256)


def encode_line(record: EventRecord) -> bytes:
    """One record as one newline-terminated UTF-8 JSON line."""
    text = json.dumps(record.model_dump(mode="json"), ensure_ascii=False,
                      separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def decode_line(line: bytes) -> EventRecord:
    """The inverse of ``encode_line`` (without the newline)."""
    return EventRecord.model_validate_json(line)


class JsonlTransport(Transport):
    """Appends each new event as one JSON line; see the module docstring."""

    # The contract version this plugin was written and tested for: a literal,
    # so an sfeventlog that no longer speaks it refuses to load the plugin.
    api_version = 1

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if isinstance(settings, JsonlSettings):
            self.options = settings
        else:
            # A daemon passes the core Settings; our own keys come from the
            # environment, with the core values carried over unchanged.
            self.options = JsonlSettings(**settings.model_dump())
        self.path = self.options.eventlog_jsonl_path
        self.max_line_bytes = self.options.eventlog_jsonl_max_line_bytes
        self._seen: set[str] = set()
        self._indexed_to = 0  # bytes of the file already in ``_seen``
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino)

    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Append the records not yet in the file; return once fsync-ed."""
        if not records:
            return
        lines = self._encode_all(records)
        try:
            self._append(lines)
        except OSError as exc:
            raise RetryableError(
                f"cannot append to {self.path} (set by {PATH_KEY}):"
                f" {exc.strerror or exc}") from exc

    def check(self) -> None:
        """The directory must exist and be writable."""
        if not self.probe():
            raise RetryableError(
                f"directory {self.path.parent} does not exist or is not writable"
                f" (set by {PATH_KEY})")

    def probe(self) -> bool:
        """Cheap readiness: can we write in the file's directory?  No I/O but a stat."""
        directory = self.path.parent
        return directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)

    def close(self) -> None:
        """Forget the index; the next call re-reads the file.  Safe twice."""
        self._seen = set()
        self._indexed_to = 0
        self._identity = None

    # -- internals -------------------------------------------------------

    def _encode_all(self, records: Sequence[EventRecord]) -> list[tuple[str, bytes]]:
        # Validate the whole batch before writing any of it, so a rejection
        # leaves the file untouched and the drainer can bisect cleanly.
        lines = []
        for record in records:
            try:
                line = encode_line(record)
            except (UnicodeEncodeError, ValueError) as exc:
                raise PermanentError(
                    f"event {record.event_uuid} cannot be stored as UTF-8 JSON: {exc}") from exc
            if len(line) > self.max_line_bytes:
                raise PermanentError(
                    f"event {record.event_uuid} is {len(line)} bytes as JSON, over the"
                    f" {self.max_line_bytes}-byte line limit"
                    " (eventlog_jsonl_max_line_bytes)")
            lines.append((record.event_uuid, line))
        return lines

    def _append(self, lines: list[tuple[str, bytes]]) -> None:
        fd, created = _open(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._catch_up(fd)
            todo = bytearray()
            new: set[str] = set()
            for uuid, line in lines:
                if uuid in self._seen or uuid in new:
                    continue  # already stored, or twice in this batch
                new.add(uuid)
                todo += line
            if todo:
                _write_all(fd, bytes(todo))
                os.fsync(fd)
                if created:
                    _fsync_dir(self.path.parent)
                self._indexed_to += len(todo)
                self._seen.update(new)
        finally:
            os.close(fd)  # also releases the flock

    def _catch_up(self, fd: int) -> None:
        """Index lines appended since we last looked; cut off a torn tail."""
        st = os.fstat(fd)
        identity = (st.st_dev, st.st_ino)
        if identity != self._identity or st.st_size < self._indexed_to:
            # A new, rotated or truncated file: start the index afresh.
            self._seen = set()
            self._indexed_to = 0
            self._identity = identity
        if st.st_size == self._indexed_to:
            return
        chunk = os.pread(fd, st.st_size - self._indexed_to, self._indexed_to)
        complete = chunk.rfind(b"\n") + 1
        for line in chunk[:complete].split(b"\n"):
            if not line:
                continue
            try:
                self._seen.add(json.loads(line)["event_uuid"])
            except (ValueError, KeyError, TypeError):
                LOG.warning("ignoring an unreadable line in %s", self.path)
        self._indexed_to += complete
        if complete < len(chunk):
            LOG.warning("cutting a torn last line (%d bytes) off %s",
                        len(chunk) - complete, self.path)
            os.ftruncate(fd, self._indexed_to)


def _open(path: Path) -> tuple[int, bool]:
    """Open for reading and appending; say whether the file was created."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o640), True
    except FileExistsError:
        return os.open(path, flags), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    # Makes the new directory entry itself survive a power loss.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
