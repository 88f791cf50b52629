"""Import sf-eventlog's history (its chunk files) into an event store.

Upstream accepts losing this history at the cut-over; ``sfeventlog
import-legacy DIR`` keeps it.  For every chunk (``sfeventlog.legacy_chunks``):

* Rows with a ``correlation_id`` (schema v8) are the per-object copies of
  one event; they are stitched back into one record about all their
  objects.  sf-eventlog added each other object to a copy's ``extra``
  (``{"network": "<uuid>"}``); those keys are dropped again, and
  ``extra["request-id"]`` becomes ``request_id``.  Rows of older chunks
  carry no link: each becomes an event about its own object.
* Event uuids are deterministic, so a rerun or a resumed run adds nothing:
  a correlation id that is a UUID is used as is (the reference legacy
  server's, which is the sender's ``event_uuid``); another correlation id
  gives ``uuid5(NAMESPACE, correlation id, timestamp, type)``; a row without
  one gives ``uuid5`` over its chunk's path, its content and its occurrence
  among identical rows of that chunk (not its rowid, which VACUUM changes).
* A damaged chunk, or a row no store could take, is reported and skipped;
  the import goes on.

Correlated rows wait in a temporary SQLite file until every chunk has been
read, so memory stays flat whatever the history's size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sfeventlog.errors import PermanentError
from sfeventlog.legacy_chunks import Chunk, ChunkRow, DamagedChunk, find_chunks, read_chunk
from sfeventlog.limits import LIMITS
from sfeventlog.payload import LEGACY_REQUEST_ID_KEY
from sfeventlog.records import EventRecord
from sfeventlog.server.limits import limit_problems

LOG = logging.getLogger(__name__)

#: Fixed forever: changing it would change every derived event_uuid.
NAMESPACE = uuid.UUID("5f3c9a52-7d0e-4b8e-9c61-3e2a4d1b0f77")
API_REQUESTS = "api-requests"
BATCH = 500


@dataclass
class ImportSummary:
    """What an import read, wrote and skipped (with why)."""

    dry_run: bool
    files: int = 0
    rows: int = 0
    events: int = 0
    inserted: int = 0
    already_present: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    skipped_rows: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "files": self.files, "rows": self.rows,
            "events": self.events, "inserted": self.inserted,
            "already_present": self.already_present, "chunk_versions": self.versions,
            "skipped_files": self.skipped_files, "skipped_rows": self.skipped_rows,
        }


#: Writes a batch; returns (new, already there), or None for "not known".
Writer = Callable[[Sequence[EventRecord]], tuple[int, int] | None]


def _extra(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Upstream's extra text as a dict (or None), and the request id inside it."""
    if raw is None or raw == "":
        return None, None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"legacy_extra": raw}, None  # kept verbatim rather than lost
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return {"legacy_extra": value}, None
    request_id = value.pop(LEGACY_REQUEST_ID_KEY, None)
    if request_id is not None and not isinstance(request_id, str):
        value[LEGACY_REQUEST_ID_KEY] = request_id
        request_id = None
    return value or None, request_id or None


def correlated_uuid(correlation_id: str, timestamp: float, event_type: str) -> str:
    try:
        return str(uuid.UUID(correlation_id))
    except ValueError:
        return str(uuid.uuid5(NAMESPACE, f"correlation\0{correlation_id}\0{timestamp!r}\0"
                                         f"{event_type}"))


def _content_key(row: ChunkRow) -> str:
    text = json.dumps([row.event_type, repr(row.timestamp), row.fqdn, row.duration,
                       row.message, row.extra])
    return hashlib.sha256(text.encode()).hexdigest()


def _record(event_uuid: str, row: ChunkRow, objects: list[tuple[str, str]],
            extra: dict[str, Any] | None, request_id: str | None) -> EventRecord:
    return EventRecord(event_uuid=event_uuid, event_type=row.event_type,
                       timestamp=row.timestamp, fqdn=row.fqdn, message=row.message,
                       duration=row.duration, extra=extra, request_id=request_id,
                       objects=objects)


def stitch(copies: list[tuple[str, str, ChunkRow]]) -> EventRecord:
    """One record from the per-object copies (object_type, object_uuid, row) of an event."""
    copies = sorted(copies, key=lambda c: (c[0] == API_REQUESTS, c[0], c[1]))
    objects = list(dict.fromkeys((t, u) for t, u, _ in copies))
    object_type, object_uuid, base = copies[0]
    extra, request_id = _extra(base.extra)
    if extra is not None:
        # sf-eventlog added the other objects of the event to each copy's extra.
        others = {t: u for t, u in objects if (t, u) != (object_type, object_uuid)}
        extra = {k: v for k, v in extra.items() if others.get(k) != v} or None
    assert base.correlation_id is not None
    event_uuid = correlated_uuid(base.correlation_id, base.timestamp, base.event_type)
    return _record(event_uuid, base, objects, extra, request_id)


def _problem(record: EventRecord) -> str | None:
    problems = limit_problems(record)
    if len(record.message.encode()) > LIMITS.message_bytes:
        problems.append(f"message is over {LIMITS.message_bytes} bytes")
    return "; ".join(problems) or None


class _Pending:
    """Correlated rows, on disk until every chunk has been read."""

    def __init__(self, directory: Path) -> None:
        self.db = sqlite3.connect(directory / "correlated.sqlite")
        self.db.execute("CREATE TABLE rows (correlation_id TEXT, object_type TEXT,"
                        " object_uuid TEXT, row TEXT)")

    def add(self, chunk: Chunk, row: ChunkRow) -> None:
        self.db.execute("INSERT INTO rows VALUES (?, ?, ?, ?)",
                        (row.correlation_id, chunk.object_type, chunk.object_uuid,
                         json.dumps(row.__dict__)))

    def groups(self) -> Iterator[list[tuple[str, str, ChunkRow]]]:
        self.db.execute("CREATE INDEX by_id ON rows (correlation_id)")
        current: str | None = None
        group: list[tuple[str, str, ChunkRow]] = []
        for cid, object_type, object_uuid, text in self.db.execute(
                "SELECT correlation_id, object_type, object_uuid, row FROM rows"
                " ORDER BY correlation_id, rowid"):
            if cid != current and group:
                yield group
                group = []
            current = cid
            group.append((object_type, object_uuid, ChunkRow(**json.loads(text))))
        if group:
            yield group

    def close(self) -> None:
        self.db.close()


class Importer:
    """Reads chunks under ``root`` and hands records to ``write`` in batches."""

    def __init__(self, root: Path, write: Writer | None,
                 exists: Callable[[Sequence[str]], int] | None = None,
                 on_file: Callable[[int, int], None] | None = None) -> None:
        self.root = root
        self.write = write
        self.exists = exists
        self.on_file = on_file
        self.summary = ImportSummary(dry_run=write is None)
        self._batch: list[EventRecord] = []

    def _emit(self, record: EventRecord, where: str) -> None:
        problem = _problem(record)
        if problem:
            self.summary.skipped_rows.append({"where": where, "reason": problem})
            return
        self.summary.events += 1
        self._batch.append(record)
        if len(self._batch) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        if self.write is None:
            if self.exists is not None:
                present = self.exists([r.event_uuid for r in batch])
                self.summary.already_present += present
                self.summary.inserted += len(batch) - present
            return
        try:
            result = self.write(batch)
        except PermanentError:
            if len(batch) == 1:
                self.summary.events -= 1
                self.summary.skipped_rows.append(
                    {"where": f"event {batch[0].event_uuid}", "reason": "the store refused it"})
                return
            # Find the refused record(s): write the halves separately.
            half = len(batch) // 2
            for part in (batch[:half], batch[half:]):
                self._batch = part
                self._flush()
            return
        if result is not None:
            self.summary.inserted += result[0]
            self.summary.already_present += result[1]
        else:
            self.summary.inserted += len(batch)

    def run(self) -> ImportSummary:
        """Import everything; only the events directory being unreadable is fatal."""
        chunks, passed = find_chunks(self.root)
        self.summary.skipped_files += [{"file": p, "reason": r} for p, r in passed]
        with tempfile.TemporaryDirectory(prefix="sfeventlog-import-") as tmp:
            pending = _Pending(Path(tmp))
            try:
                for done, chunk in enumerate(chunks, 1):
                    self._chunk(chunk, pending)
                    if self.on_file is not None:
                        self.on_file(done, len(chunks))
                for group in pending.groups():
                    where = f"correlation_id {group[0][2].correlation_id}"
                    try:
                        record = stitch(group)
                    except ValidationError as exc:
                        self.summary.skipped_rows.append({"where": where, "reason": str(exc)})
                        continue
                    self._emit(record, where)
                self._flush()
            finally:
                pending.close()
        return self.summary

    def _chunk(self, chunk: Chunk, pending: _Pending) -> None:
        try:
            version, rows = read_chunk(chunk)
        except DamagedChunk as exc:
            LOG.info("skipping damaged chunk %s: %s", chunk.relpath, exc)
            self.summary.skipped_files.append({"file": chunk.relpath, "reason": str(exc)})
            return
        self.summary.files += 1
        key = "unknown" if version is None else str(version)
        self.summary.versions[key] = self.summary.versions.get(key, 0) + 1
        seen: dict[str, int] = {}
        for n, row in enumerate(rows):
            where = f"{chunk.relpath} row {n}"
            if isinstance(row, str):
                self.summary.skipped_rows.append({"where": where, "reason": row})
                continue
            self.summary.rows += 1
            if row.correlation_id:
                pending.add(chunk, row)
                continue
            content = _content_key(row)
            occurrence = seen.get(content, 0)
            seen[content] = occurrence + 1
            event_uuid = str(uuid.uuid5(NAMESPACE, f"row\0{chunk.relpath}\0{content}\0{occurrence}"))
            extra, request_id = _extra(row.extra)
            try:
                record = _record(event_uuid, row, [(chunk.object_type, chunk.object_uuid)],
                                 extra, request_id)
            except ValidationError as exc:
                self.summary.skipped_rows.append({"where": where, "reason": str(exc)})
                continue
            self._emit(record, where)
