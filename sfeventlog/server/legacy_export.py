"""Export the reference sf-eventlog's store as upstream's chunk files.

So ``sfeventlog import-legacy`` can be tested end to end: events go in
through ``EventService`` and come out in the layout and schema (version 8)
of upstream's sf-eventlog (``sfeventlog.legacy_chunks``), with the row shapes
upstream's ``RecordMultiEvent`` writes:

* one row per object, in that object's chunk for the event's month;
* each row's ``extra`` also names the event's other objects
  (``{"network": "<uuid>"}``), and keeps ``request-id``;
* an event with a request id gets one more row, for the ``api-requests``
  object named by it;
* a ``correlation_id`` only on events about several objects or with a
  request id.  Upstream makes a random one; the reference server's is the
  sender's ``event_uuid`` (its correlation id), which the importer reuses.

Absent durations stay NULL (upstream would write 0.0).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sfeventlog.legacy_chunks import ChunkRow, chunk_path, dumps_extra, write_chunk
from sfeventlog.payload import LEGACY_REQUEST_ID_KEY
from sfeventlog.server.legacy_store import LegacyRow, read_rows

API_REQUESTS = "api-requests"


def _extra(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def export_chunks(store_dir: Path, out: Path) -> tuple[int, int]:
    """Write every stored event under ``out/events``; returns (files, rows) written."""
    events: dict[str, list[LegacyRow]] = defaultdict(list)
    for row in read_rows(store_dir):
        events[row.correlation_id].append(row)
    chunks: dict[Path, list[ChunkRow]] = defaultdict(list)
    for correlation_id, rows in events.items():
        rows.sort(key=lambda r: r.position)
        first = rows[0]
        extra = _extra(first.extra)
        request_id = extra.get(LEGACY_REQUEST_ID_KEY)
        objects = [(r.object_type, r.object_uuid) for r in rows]
        correlated = len(objects) > 1 or bool(request_id)
        targets = list(objects)
        if request_id and API_REQUESTS not in {t for t, _ in objects}:
            targets.append((API_REQUESTS, str(request_id)))
        for object_type, object_uuid in targets:
            tweaked = dict(extra)
            for other_type, other_uuid in objects:
                if other_type != object_type:
                    tweaked[other_type] = other_uuid
            path = chunk_path(out / "events", object_type, object_uuid, first.timestamp)
            chunks[path].append(ChunkRow(
                event_type=first.event_type, timestamp=first.timestamp, fqdn=first.fqdn,
                duration=first.duration, message=first.message, extra=dumps_extra(tweaked),
                correlation_id=correlation_id if correlated else None,
            ))
    for path, chunk_rows in chunks.items():
        write_chunk(path, chunk_rows)
        (path.parent / f"{path.name.rpartition('.')[0]}.lock").touch()
    return len(chunks), sum(len(r) for r in chunks.values())
