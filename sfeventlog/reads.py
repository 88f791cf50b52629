"""The read side for daemons: an object's events, hard deletes and the prune.

Replaces upstream's ``mariadb.get_object_events`` / ``delete_object_events``
(and ``prune_events``) with one API whatever the node::

    from sfeventlog import reads
    records = reads.get_object_events("instance", instance_uuid, limit=20)
    reads.delete_object_events("instance", instance_uuid)

The configured transport decides where it goes (``open_reader``):

* ``mariadb`` or ``sqlite``: straight to that store;
* ``database``: sf-database over gRPC (``GetObjectEvents``,
  ``DeleteObjectEvents``, ``PruneEvents``), with the write path's hosts,
  failover (an UNAVAILABLE host moves on to the next of
  ``SHAKENFIST_MARIADB_GATEWAY_HOSTS``) and ``SHAKENFIST_GRPC_TLS_*`` files.
  This is how a daemon node without MariaDB credentials reads.

Results are ``EventRecord``s, newest first; limit <= 0 means 100, and more
than 1000 is capped at 1000.  Object types and uuids go through ``str()``,
so ``uuid.UUID`` and str-valued enums work, as upstream's callers pass them.
Failures raise ``RetryableError`` (try later) or ``PermanentError``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError, SfEventlogError
from sfeventlog.records import EventRecord
from sfeventlog.store.base import READ_LIMIT_DEFAULT, EventStore
from sfeventlog.store.prune import PruneReport, RetentionPolicy, StageResult
from sfeventlog.wire import database_pb2, database_pb2_grpc
from sfeventlog.wire.client import channel_credentials, classify_rpc_error, open_channel, with_port
from sfeventlog.wire.read_codec import decode_row, object_type_fields

T = TypeVar("T")

#: Upstream's client deadline for PruneEvents: the daily prune may be slow.
PRUNE_TIMEOUT = 300.0
READER_TRANSPORTS = ("mariadb", "sqlite", "database")


class EventReader(abc.ABC):
    """Reads, deletes and prunes in one store, directly or through sf-database."""

    #: Where it reads, for messages.
    where: str = ""

    @abc.abstractmethod
    def get_object_events(self, object_type: Any, object_uuid: Any,
                          limit: int = READ_LIMIT_DEFAULT,
                          event_type: str | None = None) -> list[EventRecord]:
        """One object's events, newest first."""

    @abc.abstractmethod
    def delete_object_events(self, object_type: Any, object_uuid: Any) -> int | None:
        """Drop one object's references; the rows deleted, or None if the server does not say."""

    @abc.abstractmethod
    def prune(self, dry_run: bool = False) -> PruneReport:
        """The retention prune (a dry run only counts)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; safe twice."""

    def __enter__(self) -> EventReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StoreReader(EventReader):
    """Straight to an ``EventStore``; retention ages from ``settings``."""

    def __init__(self, store: EventStore, settings: Settings) -> None:
        self.store = store
        self.policy = RetentionPolicy.from_settings(settings)
        self.where = repr(store)

    def get_object_events(self, object_type: Any, object_uuid: Any,
                          limit: int = READ_LIMIT_DEFAULT,
                          event_type: str | None = None) -> list[EventRecord]:
        return self.store.get_object_events(str(object_type), str(object_uuid), limit=limit,
                                            event_type=event_type)

    def delete_object_events(self, object_type: Any, object_uuid: Any) -> int | None:
        return self.store.delete_object_events(str(object_type), str(object_uuid))

    def prune(self, dry_run: bool = False) -> PruneReport:
        return self.store.prune(self.policy, dry_run=dry_run)

    def close(self) -> None:
        self.store.close()


class DatabaseReader(EventReader):
    """Through sf-database's phase 3/4 RPCs; hosts tried in order, as the write path."""

    def __init__(self, settings: Settings) -> None:
        hosts = settings.gateway_hosts()
        if not hosts:
            raise ConfigError("SHAKENFIST_MARIADB_GATEWAY_HOSTS names no host")
        self.settings = settings
        self._targets = [with_port(h, settings.mariadb_gateway_port) for h in hosts]
        self._current = 0
        self._channel: grpc.Channel | None = None
        self._stub: database_pb2_grpc.DatabaseServiceStub | None = None
        self.where = "sf-database at " + ", ".join(self._targets)

    def _stub_now(self) -> database_pb2_grpc.DatabaseServiceStub:
        if self._stub is None:
            self._channel = open_channel(self._targets[self._current],
                                         channel_credentials(self.settings))
            self._stub = database_pb2_grpc.DatabaseServiceStub(self._channel)
        return self._stub

    def _call(self, what: str, call: Callable[[database_pb2_grpc.DatabaseServiceStub], T]) -> T:
        failures: list[str] = []
        for _ in range(len(self._targets)):
            target = self._targets[self._current]
            try:
                return call(self._stub_now())
            except grpc.RpcError as exc:
                error = classify_rpc_error(exc, f"{what} at sf-database {target}")
                if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    failures.append(str(error))
                    self.close()
                    self._current = (self._current + 1) % len(self._targets)
                    continue
                raise error from None
        raise RetryableError(f"no sf-database host answered {what}: " + "; ".join(failures))

    def get_object_events(self, object_type: Any, object_uuid: Any,
                          limit: int = READ_LIMIT_DEFAULT,
                          event_type: str | None = None) -> list[EventRecord]:
        asked = (str(object_type), str(object_uuid))
        request = database_pb2.GetObjectEventsRequest(
            object_uuid=asked[1], limit=limit, event_type_filter=event_type or "",
            **object_type_fields(asked[0]))
        timeout = self.settings.mariadb_gateway_timeout
        reply = self._call("GetObjectEvents",
                           lambda stub: stub.GetObjectEvents(request, timeout=timeout))
        return [decode_row(row, asked) for row in reply.events]

    def delete_object_events(self, object_type: Any, object_uuid: Any) -> int | None:
        request = database_pb2.DeleteObjectEventsRequest(
            object_uuid=str(object_uuid), **object_type_fields(str(object_type)))
        timeout = self.settings.mariadb_gateway_timeout
        reply = self._call("DeleteObjectEvents",
                           lambda stub: stub.DeleteObjectEvents(request, timeout=timeout))
        if not reply.success:
            raise RetryableError(f"DeleteObjectEvents refused: {reply.error or '(no error text)'}")
        return None

    def prune(self, dry_run: bool = False) -> PruneReport:
        request = database_pb2.PruneEventsRequest()
        started = time.monotonic()
        if dry_run:
            reply = self._call("CountPrunableEvents",
                               lambda stub: stub.CountPrunableEvents(request, timeout=PRUNE_TIMEOUT))
        else:
            reply = self._call("PruneEvents",
                               lambda stub: stub.PruneEvents(request, timeout=PRUNE_TIMEOUT))
        if not reply.success:
            raise RetryableError(f"{self.where}: prune refused: {reply.error or '(no error text)'}")
        report = PruneReport(dry_run=dry_run, now=time.time(),
                             seconds=time.monotonic() - started)
        report.stages = [StageResult(s.stage, s.label, None, int(s.rows), s.disabled)
                         for s in reply.stages]
        if not report.stages:  # an upstream server: only the total
            report.stages = [StageResult("total", "all", None, int(reply.rows_pruned))]
        return report

    def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()


def open_reader(settings: Settings | None = None) -> EventReader:
    """The reader for the configured transport (no I/O until the first call)."""
    settings = settings or Settings()
    kind = settings.eventlog_transport
    if kind == "sqlite":
        from sfeventlog.store.sqlite import SqliteEventStore

        return StoreReader(SqliteEventStore(settings.eventlog_sqlite_path), settings)
    if kind == "mariadb":
        from sfeventlog.store.mariadb import MariaDBEventStore

        return StoreReader(MariaDBEventStore(settings), settings)
    if kind == "database":
        return DatabaseReader(settings)
    raise ConfigError(
        f"transport {kind!r} has no read side; reads need SHAKENFIST_EVENTLOG_TRANSPORT"
        f" set to one of {', '.join(READER_TRANSPORTS)}")


def get_object_events(object_type: Any, object_uuid: Any, limit: int = READ_LIMIT_DEFAULT,
                      event_type: str | None = None,
                      settings: Settings | None = None) -> list[EventRecord]:
    """Upstream's ``mariadb.get_object_events``, wherever the node reads from."""
    with open_reader(settings) as reader:
        return reader.get_object_events(object_type, object_uuid, limit, event_type)


def delete_object_events(object_type: Any, object_uuid: Any,
                         settings: Settings | None = None) -> int | None:
    """Upstream's ``mariadb.delete_object_events``: the hard-delete clean-up."""
    with open_reader(settings) as reader:
        return reader.delete_object_events(object_type, object_uuid)


__all__ = ["DatabaseReader", "EventReader", "PermanentError", "RetryableError",
           "SfEventlogError", "StoreReader", "delete_object_events", "get_object_events",
           "open_reader"]
