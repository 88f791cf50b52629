"""Request limits shared by both servers.

Field limits come from the one table in ``sfeventlog.limits``: a record a
store could not keep is refused up front with INVALID_ARGUMENT, whatever the
store, so SQLite and MariaDB deployments reject the same records.  The
request-level limits below are the servers' own.
"""

from __future__ import annotations

from sfeventlog.limits import LIMITS, record_problems
from sfeventlog.records import EventRecord

# Names the legacy server checks its requests with; values from the table.
MAX_EVENT_TYPE = LIMITS.event_type
MAX_OBJECT_TYPE = LIMITS.object_type
MAX_OBJECT_UUID = LIMITS.object_uuid
#: Events in one RecordEventBatch / RecordMultiEventBatch (drainers send 100).
MAX_EVENTS_PER_REQUEST = 10_000
#: gRPC max receive size; larger requests get RESOURCE_EXHAUSTED from grpc.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def limit_problems(record: EventRecord) -> list[str]:
    """Why the store could not keep ``record`` (``sfeventlog.limits.record_problems``)."""
    return record_problems(record)
