"""MariaDB store specifics against the suite's real MariaDB: server checks,
error classification, reconnects, timeouts and keeping the password secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pymysql
import pytest

from sfeventlog.cli.main import main as cli_main
from sfeventlog.errors import PermanentError, RetryableError
from sfeventlog.loader import load_transport
from sfeventlog.store import metrics
from sfeventlog.store.compat import IncompatibleServerError, server_problems
from sfeventlog.store.mariadb import MariaDBEventStore
from sfeventlog.store.mariadb_errors import ERROR_KINDS, ErrorKind, classify
from sfeventlog.testing.backend import make_record
from tests.servers.mariadb import TEST_PASSWORD, MariaDBServer, free_port


@pytest.fixture
def store(mariadb_server: MariaDBServer, mariadb_database: str) -> Iterator[MariaDBEventStore]:
    s = MariaDBEventStore(mariadb_server.settings(mariadb_database))
    yield s
    s.close()


def _signal_on_insert(server: MariaDBServer, database: str, errno: int) -> None:
    """Make the real server fail every events insert with ``errno``."""
    server.execute(
        "CREATE TRIGGER fail_insert BEFORE INSERT ON events FOR EACH ROW"
        f" SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = {errno}, MESSAGE_TEXT = 'injected'",
        database=database,
    )


# -- the classification table ----------------------------------------------

@pytest.mark.parametrize("errno,kind", [
    (2003, ErrorKind.CONNECTION), (2006, ErrorKind.CONNECTION), (2013, ErrorKind.CONNECTION),
    (1205, ErrorKind.RETRYABLE), (1213, ErrorKind.RETRYABLE), (1040, ErrorKind.RETRYABLE),
    (1406, ErrorKind.PERMANENT), (1366, ErrorKind.PERMANENT), (4025, ErrorKind.PERMANENT),
    (3140, ErrorKind.PERMANENT), (1146, ErrorKind.SCHEMA),
])
def test_classification_table(errno: int, kind: ErrorKind) -> None:
    assert ERROR_KINDS[errno] is kind
    assert classify(pymysql.err.OperationalError(errno, "x")) == (kind, True)


def test_unknown_error_number_is_retryable_and_flagged() -> None:
    assert classify(pymysql.err.OperationalError(65000, "x")) == (ErrorKind.RETRYABLE, False)


@pytest.mark.parametrize("errno,expected", [
    (1205, RetryableError),  # lock wait timeout
    (1213, RetryableError),  # deadlock
    (1406, PermanentError),  # data too long
    (1366, PermanentError),  # incorrect string value
])
def test_server_errors_map_through_the_table(mariadb_server: MariaDBServer,
                                             mariadb_database: str, store: MariaDBEventStore,
                                             errno: int, expected: type[Exception]) -> None:
    _signal_on_insert(mariadb_server, mariadb_database, errno)
    with pytest.raises(expected, match=str(errno)):
        store.write_batch([make_record()])


def test_unexpected_server_error_is_retryable_and_counted(
        mariadb_server: MariaDBServer, mariadb_database: str, store: MariaDBEventStore) -> None:
    counter = metrics.STORE_UNEXPECTED_ERRORS.labels("mariadb", "1644")
    before = counter._value.get()
    _signal_on_insert(mariadb_server, mariadb_database, 1644)
    with pytest.raises(RetryableError, match="unclassified"):
        store.write_batch([make_record()])
    assert counter._value.get() == before + 1
    mariadb_server.execute("DROP TRIGGER fail_insert", database=mariadb_database)
    store.write_batch([make_record()])  # the store recovered by itself


# -- server checks -----------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (("10.6.12-MariaDB", "InnoDB", "utf8mb4"), "too old"),
    (("8.0.36", "InnoDB", "utf8mb4"), "not MariaDB"),
    (("10.11.6-MariaDB", "MyISAM", "utf8mb4"), "not InnoDB"),
    (("10.11.6-MariaDB", "InnoDB", "latin1"), "not utf8mb4"),
])
def test_server_problems_name_the_failed_check(args: tuple[str, str, str], needle: str) -> None:
    problems = server_problems(*args)
    assert len(problems) == 1 and needle in problems[0]


def test_server_problems_accepts_supported_servers() -> None:
    assert server_problems("10.11.19-MariaDB-0+deb12u1", "InnoDB", "utf8mb4") == []
    assert server_problems("11.4.2-MariaDB", "InnoDB", "utf8mb4") == []


def test_non_utf8mb4_database_is_refused(mariadb_server: MariaDBServer) -> None:
    name = mariadb_server.create_database("latin")
    mariadb_server.execute(f"ALTER DATABASE `{name}` CHARACTER SET latin1")
    store = MariaDBEventStore(mariadb_server.settings(name))
    try:
        with pytest.raises(IncompatibleServerError, match="'latin1', not utf8mb4"):
            store.migrate()
    finally:
        store.close()
    transport = load_transport(mariadb_server.settings(name))
    try:
        with pytest.raises(RetryableError, match="not utf8mb4"):
            transport.record_event_batch([make_record()])
    finally:
        transport.close()


# -- connection handling -------------------------------------------------------

def test_one_connection_is_reused(store: MariaDBEventStore) -> None:
    store.write_batch([make_record()])
    assert store._conn is not None
    first = store._conn.thread_id()
    for _ in range(3):
        store.write_batch([make_record()])
    assert store._conn.thread_id() == first


def test_reconnects_after_the_server_drops_the_connection(
        mariadb_server: MariaDBServer, store: MariaDBEventStore) -> None:
    store.write_batch([make_record()])
    assert store._conn is not None
    old = store._conn.thread_id()
    mariadb_server.execute(f"KILL CONNECTION {old}")
    record = make_record()
    store.write_batch([record])  # a stale connection is replaced, not an outage
    assert store._conn.thread_id() != old
    assert store.get_events([record.event_uuid]) == [record]


def test_timeouts_come_from_settings(mariadb_server: MariaDBServer, mariadb_database: str) -> None:
    settings = mariadb_server.settings(mariadb_database, mariadb_connect_timeout=3.0,
                                       mariadb_read_timeout=1.0, mariadb_write_timeout=7.0)
    store = MariaDBEventStore(settings)
    try:
        store.write_batch([])
        conn = store._conn
        assert conn is not None
        assert (conn.connect_timeout, conn._read_timeout, conn._write_timeout) == (3.0, 1.0, 7.0)
        # A server that stops answering mid-statement hits the read timeout.
        mariadb_server.execute(
            "CREATE TRIGGER slow BEFORE INSERT ON events FOR EACH ROW DO SLEEP(3)",
            database=mariadb_database)
        with pytest.raises(RetryableError, match="2013"):
            store.write_batch([make_record()])
    finally:
        store.close()


def test_unreachable_wrong_password_and_unknown_database_are_retryable(
        mariadb_server: MariaDBServer, mariadb_database: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cases = {
        "2003": mariadb_server.settings(mariadb_database, mariadb_port=free_port()),
        "1045": mariadb_server.settings(mariadb_database, mariadb_password="wrong-" + TEST_PASSWORD),
        "1049": mariadb_server.settings("no_such_database"),
    }
    for errno, settings in cases.items():
        store = MariaDBEventStore(settings)
        try:
            with pytest.raises(RetryableError, match=errno) as info:
                store.write_batch([make_record()])
            assert TEST_PASSWORD not in str(info.value)
        finally:
            store.close()
    assert TEST_PASSWORD not in caplog.text


# -- the password stays secret ---------------------------------------------------

def test_password_never_in_repr_logs_or_errors(mariadb_server: MariaDBServer,
                                               mariadb_database: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = mariadb_server.settings(mariadb_database)
    assert settings.mariadb_password.get_secret_value() == TEST_PASSWORD
    transport = load_transport(settings)
    try:
        transport.record_event_batch([make_record()])
        for text in (repr(transport), repr(settings), str(settings),
                     settings.model_dump_json(), repr(transport.store)):  # type: ignore[attr-defined]
            assert TEST_PASSWORD not in text
    finally:
        transport.close()
    assert "connected to mariadb" in caplog.text
    assert TEST_PASSWORD not in caplog.text


def test_password_never_in_cli_output(mariadb_server: MariaDBServer, mariadb_database: str,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = {
        "SHAKENFIST_MARIADB_HOST": mariadb_server.host,
        "SHAKENFIST_MARIADB_PORT": str(mariadb_server.port),
        "SHAKENFIST_MARIADB_USER": "sfeventlog",
        "SHAKENFIST_MARIADB_PASSWORD": TEST_PASSWORD,
        "SHAKENFIST_MARIADB_DATABASE": mariadb_database,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    record = make_record(objects=[("instance", "cli-secret")])
    store = MariaDBEventStore(mariadb_server.settings(mariadb_database))
    store.write_batch([record])
    store.close()

    assert cli_main(["-v", "migrate", "--mariadb"]) == 0
    assert cli_main(["-v", "events", "instance", "cli-secret", "--mariadb"]) == 0
    assert cli_main(["-v", "events", "instance", "cli-secret", "--mariadb", "--json"]) == 0
    monkeypatch.setenv("SHAKENFIST_MARIADB_PORT", str(free_port()))
    assert cli_main(["-v", "events", "instance", "cli-secret", "--mariadb"]) == 1
    monkeypatch.setenv("SHAKENFIST_MARIADB_PORT", str(mariadb_server.port))
    monkeypatch.setenv("SHAKENFIST_MARIADB_PASSWORD", TEST_PASSWORD + "-wrong")
    assert cli_main(["-v", "events", "instance", "cli-secret", "--mariadb"]) == 1
    out, err = capsys.readouterr()
    assert record.message in out and "Access denied" in err
    assert TEST_PASSWORD not in out + err
