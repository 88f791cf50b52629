"""How a client classifies sf-database's ``StatusReply(success=false)``.

Our server says why in ``StatusReply.failure`` (see protos/database.proto),
and that is trusted first.  An upstream server never sets it: then only the
texts upstream's ``RecordEventBatch`` handler produces when it refuses the
*records* count as permanent (``UPSTREAM_PERMANENT_TEXTS``).  Everything
else -- a store outage whatever its wording ("database disk image is
malformed", "invalid page", ...), an empty error, any text we do not know --
is retryable: the spool keeps the events and the drainer backs off, so an
unknown text costs a delay, never an event.
"""

from __future__ import annotations

import re

from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.store.mariadb_errors import ERROR_KINDS, ErrorKind
from sfeventlog.wire import database_pb2

#: What upstream's handler answers when it refuses the records themselves
#: (read from ``shakenfist/daemons/database/main.py``: it maps each object
#: type, ``json.loads`` each ``extra_json`` and builds a pydantic
#: ``EventRecord``, replying ``error=str(exception)``).  Each pattern is
#: anchored at the start of the error text, so a word inside an outage's
#: text never matches.
UPSTREAM_PERMANENT_TEXTS: dict[str, re.Pattern[str]] = {
    # An ObjectType number it cannot map.
    "unmapped object type": re.compile(r"Invalid object_type in event \S*\Z"),
    # pydantic's ValidationError for its EventRecord model.
    "record validation": re.compile(r"\d+ validation errors? for EventRecord\b"),
    # json.JSONDecodeError from extra_json ("Expecting value: line 1 column 1 (char 0)").
    "extra_json not JSON": re.compile(r"[A-Z][^\n]*: line \d+ column \d+ \(char \d+\)\Z"),
    # json.loads on an extra_json nested too deeply.
    "extra_json too deep": re.compile(
        r"maximum recursion depth exceeded while decoding a JSON (?:array|object)"),
}

#: SQLAlchemy's text of a PyMySQL error as upstream forwards it:
#: "(pymysql.err.DataError) (1406, \"Data too long for column ...\")".  It is
#: permanent only when the number's kind in our one MariaDB error table is.
_MARIADB_ERROR = re.compile(r"\((?:pymysql|MySQLdb)\.err\.\w+\) \((\d+),")


def upstream_text_is_permanent(error: str) -> bool:
    """True only for the refusal texts of upstream's handler (see the table)."""
    if any(pattern.match(error) for pattern in UPSTREAM_PERMANENT_TEXTS.values()):
        return True
    m = _MARIADB_ERROR.match(error)
    return m is not None and ERROR_KINDS.get(int(m.group(1))) is ErrorKind.PERMANENT


def classify_status_reply(reply: database_pb2.StatusReply,
                          where: str) -> PermanentError | RetryableError:
    """The transport error for a ``success=false`` reply from ``where``."""
    message = f"{where} refused the batch: {reply.error or '(no error text)'}"
    if reply.failure == database_pb2.FAILURE_RECORDS:
        return PermanentError(message)
    if reply.failure == database_pb2.FAILURE_UNSPECIFIED and upstream_text_is_permanent(
            reply.error):
        return PermanentError(message)
    # FAILURE_STORE, a value newer than this client, or an unknown text.
    return RetryableError(message)
