"""Request limits shared by both servers.

Column sizes come from the MariaDB schema (upstream-facts.md): a field that
would not fit is refused up front with INVALID_ARGUMENT, whatever the store,
so SQLite and MariaDB deployments reject the same records.
"""

from __future__ import annotations

from sfeventlog.records import EventRecord

MAX_EVENT_UUID = 36
MAX_EVENT_TYPE = 32
MAX_FQDN = 255
MAX_REQUEST_ID = 64
MAX_OBJECT_TYPE = 32
MAX_OBJECT_UUID = 36
#: Events in one RecordEventBatch / RecordMultiEventBatch (drainers send 100).
MAX_EVENTS_PER_REQUEST = 10_000
#: gRPC max receive size; larger requests get RESOURCE_EXHAUSTED from grpc.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def limit_problems(record: EventRecord) -> list[str]:
    """Fields of ``record`` too long for the store's columns, as messages."""
    if (len(record.event_uuid) <= MAX_EVENT_UUID and len(record.event_type) <= MAX_EVENT_TYPE
            and len(record.fqdn) <= MAX_FQDN
            and (record.request_id is None or len(record.request_id) <= MAX_REQUEST_ID)
            and all(len(t) <= MAX_OBJECT_TYPE and len(u) <= MAX_OBJECT_UUID
                    for t, u in record.objects)):
        return []  # the common case, without building messages
    problems: list[str] = []

    def check(name: str, value: str | None, limit: int) -> None:
        if value is not None and len(value) > limit:
            problems.append(f"{name} is {len(value)} characters, the limit is {limit}")

    check("event_uuid", record.event_uuid, MAX_EVENT_UUID)
    check("event_type", record.event_type, MAX_EVENT_TYPE)
    check("fqdn", record.fqdn, MAX_FQDN)
    check("request_id", record.request_id, MAX_REQUEST_ID)
    for i, (object_type, object_uuid) in enumerate(record.objects):
        check(f"objects[{i}].object_type", object_type, MAX_OBJECT_TYPE)
        check(f"objects[{i}].object_uuid", object_uuid, MAX_OBJECT_UUID)
    return problems
