"""How ``StatusReply(success=false)`` is classified: the table of texts.

Upstream's replies are built from upstream's facts: its StatusReply has
fields 1 and 2 only (encoded by hand with ``tests.rawproto``), and its
handler answers ``error=str(exception)`` for the exceptions its code raises
(``json.loads``, a pydantic model named ``EventRecord``, SQLAlchemy around
PyMySQL), so those texts are made here by the same libraries.
"""

from __future__ import annotations

import json

import pydantic
import pytest

from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.wire import database_pb2
from sfeventlog.wire.replies import UPSTREAM_PERMANENT_TEXTS, classify_status_reply
from tests import rawproto


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        return str(exc)
    raise AssertionError(f"{text!r} parsed")


class EventRecord(pydantic.BaseModel):  # upstream's model name and a few of its fields
    event_uuid: str
    objects: list[tuple[str, str]]


def _validation_error(**fields: object) -> str:
    try:
        EventRecord(**fields)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        return str(exc)
    raise AssertionError("validated")


#: (text upstream's handler can answer, whether it is about the records).
UPSTREAM_TEXTS = [
    ("Invalid object_type in event 0190a3c1-0000-7000-8000-000000000001", True),
    (_validation_error(event_uuid="u"), True),
    (_validation_error(event_uuid=1, objects=[]), True),
    (_json_error("{"), True),
    (_json_error('{"a": }'), True),
    (_json_error('{"a": 1} trailing'), True),
    (_json_error('"\\x"'), True),
    (_json_error("[" * 100_000), True),
    (("(pymysql.err.DataError) (1406, \"Data too long for column 'fqdn' at row 1\")\n"
     "[SQL: INSERT IGNORE INTO events ...]"), True),
    # Store outages, whatever words they hold.
    ("(sqlite3.DatabaseError) database disk image is malformed; invalid page number 9", False),
    (("(pymysql.err.OperationalError) (2003, \"Can't connect to MySQL server on 'db1'"
     " ([Errno 111] Connection refused)\")"), False),
    (("(pymysql.err.OperationalError) (1205, 'Lock wait timeout exceeded; try restarting"
     " transaction')"), False),
    ("(pymysql.err.InternalError) (1366, \"Incorrect string value\")", True),
    ("QueuePool limit of size 5 overflow 10 reached, connection timed out", False),
    # Our own server's texts before it set `failure`, and other wording.
    (("store unavailable: RetryableError: sqlite store: unexpected DatabaseError:"
     " database disk image is malformed"), False),
    ("invalid: events[0].event_type is 40 characters, the limit is 32", False),
    ("validation failed: bad uuid", False),
    ("Invalid object_type", False),  # another RPC's text, not RecordEventBatch's
    ("", False),
]


def upstream_reply(error: str) -> database_pb2.StatusReply:
    """A reply as upstream's server encodes it: success=1 (false, omitted) and error=2."""
    data = rawproto.string(2, error) if error else b""
    return database_pb2.StatusReply.FromString(data)


@pytest.mark.parametrize("error, permanent", UPSTREAM_TEXTS,
                         ids=lambda v: repr(v)[:40] if isinstance(v, str) else str(v))
def test_upstream_texts(error: str, permanent: bool) -> None:
    result = classify_status_reply(upstream_reply(error), "sf-database at h:1")
    assert isinstance(result, PermanentError if permanent else RetryableError), error
    assert "sf-database at h:1" in str(result)


def test_every_pattern_of_the_table_is_exercised() -> None:
    for name, pattern in UPSTREAM_PERMANENT_TEXTS.items():
        assert any(p and pattern.match(e) for e, p in UPSTREAM_TEXTS), name


@pytest.mark.parametrize("failure, error, expected", [
    # The field wins over any text.
    (database_pb2.FAILURE_RECORDS, "store unavailable: whatever", PermanentError),
    (database_pb2.FAILURE_STORE, "Invalid object_type in event x", RetryableError),
    (database_pb2.FAILURE_STORE, "database disk image is malformed; invalid page", RetryableError),
    (99, "Invalid object_type in event x", RetryableError),  # a newer server's value
])
def test_the_failure_field_is_trusted_first(failure: int, error: str, expected: type) -> None:
    data = rawproto.string(2, error) + rawproto.uint(100, failure)
    reply = database_pb2.StatusReply.FromString(data)
    assert isinstance(classify_status_reply(reply, "x"), expected)
