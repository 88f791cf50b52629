"""The read side for daemons: an object's events, hard deletes and the prune.

Replaces upstream's ``mariadb.get_object_events`` / ``delete_object_events``
(and ``prune_events``) with one API whatever the node::

    from sfeventlog import reads
    records = reads.get_object_events("instance", instance_uuid, limit=20)
    reads.delete_object_events("instance", instance_uuid)

The configured transport decides where it goes (``open_reader``):

* ``mariadb`` or ``sqlite``: straight to that store;
* ``database``: sf-database over gRPC (``GetObjectEvents``,
  ``DeleteObjectEvents``, ``PruneEvents``) through the ``database``
  transport itself: the write path's hosts (round-robin over
  ``SHAKENFIST_MARIADB_GATEWAY_HOSTS``), failover (UNAVAILABLE or
  DEADLINE_EXCEEDED moves on to the next host), ``SHAKENFIST_GRPC_TLS_*``
  files and ``caller-daemon``/``caller-node`` metadata.
  This is how a daemon node without MariaDB credentials reads.

Results are ``EventRecord``s, newest first; limit <= 0 means 100, and more
than 1000 is capped at 1000.  Object types and uuids go through ``str()``,
so ``uuid.UUID`` and str-valued enums work, as upstream's callers pass them
(an enum by its value, as ``add_event`` stores it, whatever its ``__str__``).
Failures raise ``RetryableError`` (try later) or ``PermanentError``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError, PermanentError, RetryableError, SfEventlogError
from sfeventlog.loader import load_transport
from sfeventlog.payload import identifier_text
from sfeventlog.records import EventRecord
from sfeventlog.store.base import READ_LIMIT_DEFAULT, EventStore, clamp_limit
from sfeventlog.store.prune import PruneReport, RetentionPolicy, StageResult, prune_exclusively
from sfeventlog.wire import database_pb2, database_pb2_grpc
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
        return self.store.get_object_events(identifier_text(object_type),
                                            identifier_text(object_uuid), limit=limit,
                                            event_type=event_type)

    def delete_object_events(self, object_type: Any, object_uuid: Any) -> int | None:
        return self.store.delete_object_events(identifier_text(object_type),
                                               identifier_text(object_uuid))

    def prune(self, dry_run: bool = False) -> PruneReport:
        return prune_exclusively(self.store, self.policy, dry_run=dry_run)

    def close(self) -> None:
        self.store.close()


@runtime_checkable
class GatewayCalls(Protocol):
    """What the ``database`` transport offers the read side: its hosts,
    channels, TLS, caller metadata and failover, for any sf-database RPC."""

    def call(self, what: str, rpc: Callable[[database_pb2_grpc.DatabaseServiceStub], T]) -> T:
        ...

    def close(self) -> None:
        ...


class DatabaseReader(EventReader):
    """Through sf-database's phase 3/4 RPCs, over the ``database`` transport itself:
    the same hosts (round-robin), failover, TLS and caller metadata as the writes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Built through the loader, as the drainer builds it (no I/O yet):
        # the core never imports a plugin module.
        transport = load_transport(settings.model_copy(update={"eventlog_transport": "database"}))
        if not isinstance(transport, GatewayCalls):
            transport.close()
            raise ConfigError("the installed 'database' transport offers no read side"
                              " (it lacks call()); upgrade sfeventlog")
        self._gateway = transport
        self.where = "sf-database at " + ", ".join(
            f"{h}:{settings.mariadb_gateway_port}" for h in settings.gateway_hosts())

    def _call(self, what: str, call: Callable[[database_pb2_grpc.DatabaseServiceStub], T]) -> T:
        return self._gateway.call(what, call)

    def get_object_events(self, object_type: Any, object_uuid: Any,
                          limit: int = READ_LIMIT_DEFAULT,
                          event_type: str | None = None) -> list[EventRecord]:
        asked = (identifier_text(object_type), identifier_text(object_uuid))
        request = database_pb2.GetObjectEventsRequest(
            object_uuid=asked[1], limit=clamp_limit(limit), event_type_filter=event_type or "",
            **object_type_fields(asked[0]))
        timeout = self.settings.mariadb_gateway_timeout
        reply = self._call("GetObjectEvents",
                           lambda stub: stub.GetObjectEvents(request, timeout=timeout))
        return [decode_row(row, asked) for row in reply.events]

    def delete_object_events(self, object_type: Any, object_uuid: Any) -> int | None:
        request = database_pb2.DeleteObjectEventsRequest(
            object_uuid=identifier_text(object_uuid),
            **object_type_fields(identifier_text(object_type)))
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
        self._gateway.close()


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


__all__ = ["DatabaseReader", "EventReader", "GatewayCalls", "PermanentError", "RetryableError",
           "SfEventlogError", "StoreReader", "delete_object_events", "get_object_events",
           "open_reader"]
