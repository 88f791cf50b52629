"""How MariaDB/MySQL errors are handled: the one classification table.

Every error number the store knows is listed in ``ERROR_KINDS``.  A number
not listed is treated as retryable (the spool keeps the events) and counted
in ``database_store_unexpected_errors_total`` so the table can be extended.
"""

from __future__ import annotations

import enum

# PyMySQL is imported inside the two functions that need it: the table is
# also read by the gRPC reply classifier, which must not pull a database
# driver into every CLI command and daemon.


class ErrorKind(enum.Enum):
    #: The connection is gone or never came up: drop it, reconnect, retry later.
    CONNECTION = "connection"
    #: Transient server-side condition: retry the same batch later.
    RETRYABLE = "retryable"
    #: The data itself is rejected: retrying cannot help.
    PERMANENT = "permanent"
    #: Tables or columns missing: run ``sfeventlog migrate``.
    SCHEMA = "schema"


C, R, P, S = ErrorKind.CONNECTION, ErrorKind.RETRYABLE, ErrorKind.PERMANENT, ErrorKind.SCHEMA

#: MySQL / MariaDB error number -> how to handle it.
ERROR_KINDS: dict[int, ErrorKind] = {
    # Client-side: server gone or unreachable.
    2002: C,  # can't connect through socket
    2003: C,  # can't connect to server (refused, timeout)
    2005: C,  # unknown host (DNS may recover)
    2006: C,  # server has gone away
    2013: C,  # lost connection during query
    2055: C,  # lost connection at '%s', system error
    # Server-side: shutting down or connection killed.
    1053: C,  # server shutdown in progress
    1077: C,  # normal shutdown
    1079: C,  # shutdown complete
    1152: C,  # aborted connection
    1158: C,  # got an error reading communication packets
    1159: C,  # got timeout reading communication packets
    1160: C,  # got an error writing communication packets
    1161: C,  # got timeout writing communication packets
    1927: C,  # connection was killed
    4031: C,  # disconnected by the server for inactivity
    # Transient contention or overload.
    1040: R,  # too many connections
    1203: R,  # user has more than max_user_connections
    1205: R,  # lock wait timeout exceeded
    1213: R,  # deadlock found; restart the transaction
    1317: R,  # query execution was interrupted
    1969: R,  # query execution was interrupted (max_statement_time)
    1021: R,  # disk full
    1114: R,  # the table is full
    1180: R,  # got error during COMMIT
    1181: R,  # got error during ROLLBACK
    1290: R,  # server running with --read-only (failover in progress)
    1836: R,  # running in read-only mode
    # Access or configuration: an operator fixes it; keep the events meanwhile.
    1044: R,  # access denied to database
    1045: R,  # access denied for user
    1049: R,  # unknown database
    1142: R,  # command denied to user
    # The data is rejected.
    1048: P,  # column cannot be null
    1264: P,  # out of range value
    1265: P,  # data truncated
    1292: P,  # incorrect (datetime/double) value
    1300: P,  # invalid character string
    1366: P,  # incorrect string value (e.g. bad UTF-8)
    1367: P,  # illegal value during parsing
    1406: P,  # data too long for column
    1411: P,  # incorrect value for function
    1416: P,  # cannot get geometry object from data
    3140: P,  # invalid JSON text (MySQL)
    4025: P,  # CHECK constraint failed (MariaDB's JSON_VALID check)
    4038: P,  # syntax error in JSON text
    # Schema missing or older than this code.
    1054: S,  # unknown column
    1146: S,  # table doesn't exist
}


def error_number(exc: BaseException) -> int | None:
    """The server or client error number a PyMySQL error carries, if any."""
    import pymysql

    if isinstance(exc, pymysql.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def classify(exc: BaseException) -> tuple[ErrorKind, bool]:
    """How to handle ``exc``; the flag says whether the table knew it."""
    import pymysql

    number = error_number(exc)
    if number is not None and number in ERROR_KINDS:
        return ERROR_KINDS[number], True
    if isinstance(exc, pymysql.err.InterfaceError):
        # PyMySQL's "(0, '')": the connection was already closed under us.
        return ErrorKind.CONNECTION, True
    return ErrorKind.RETRYABLE, False
