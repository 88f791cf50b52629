"""The Transport contract every delivery plugin implements.

A transport moves batches of ``EventRecord`` from the drainer to a store.
It is loaded by name from the ``sfeventlog.transports`` entry-point group
(see ``sfeventlog.loader``) and checked by the public contract kit in
``sfeventlog.testing``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from sfeventlog.config import Settings
from sfeventlog.errors import ConfigError
from sfeventlog.records import EventRecord

#: Bumped when the contract below changes incompatibly.  A plugin states
#: the version it was written for as a literal, ``api_version = 1``, on its
#: own class; the loader refuses a version outside the supported set.
TRANSPORT_API_VERSION = 1

#: The plugin API versions this sfeventlog can load.
SUPPORTED_TRANSPORT_API_VERSIONS: frozenset[int] = frozenset({1})

#: The most batches a transport may ask to have in flight (each holds a sender
#: thread and, on the far side, a server worker and a database connection).
MAX_IN_FLIGHT = 8


def declared_api_version(cls: type) -> object:
    """The ``api_version`` a plugin class (or a base of its own) states.

    ``Transport`` itself states none, so a plugin that forgot the line has
    None rather than silently inheriting whatever this sfeventlog speaks.
    """
    for klass in cls.__mro__:
        if klass is Transport:
            break
        if "api_version" in vars(klass):
            return vars(klass)["api_version"]
    return None


class Transport(abc.ABC):
    """Delivers batches of events to one store.

    Contract:

    * ``__init__(settings)`` only reads configuration.  It does no I/O:
      connections are opened lazily by the first call that needs them, so
      building a transport cannot hang or fail on an outage.
    * ``record_event_batch(records)`` returns only once the store durably
      owns every record.  It is idempotent on ``event_uuid``: sending a batch
      (or part of it) again must not create a second copy.
    * Failures raise ``RetryableError`` (outage, timeout, overload: the same
      batch may succeed later) or ``PermanentError`` (the store rejects these
      records).  Anything else raised is treated as retryable and counted.
    * ``close()`` releases resources and may be called more than once.
    * With ``max_in_flight`` 0 (the default) the object is used by one
      drainer thread, one call at a time.  A transport that sets it to
      n >= 1 gets ``record_event_batch`` calls from any thread, up to n at
      once, while ``probe`` and ``close`` may come from yet another: it must
      be safe for that.
    """

    #: The contract version this plugin implements; every plugin sets it to
    #: a literal (see ``declared_api_version``).
    api_version: ClassVar[int]

    #: How many batches the drainer may have in flight at once through this
    #: transport, on sender threads, while it reads and parses the next one.
    #: 0: every call on the drainer's own thread, one batch at a time.
    #: A store that is idempotent on ``event_uuid`` gains from 2 or more (a
    #: batch behind a failed one is sent again); 1 only overlaps the
    #: drainer's own work with the call.  At most ``MAX_IN_FLIGHT``.
    max_in_flight: int = 0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def record_event_batch(self, records: Sequence[EventRecord]) -> None:
        """Deliver ``records``; return only once the store durably owns them all."""

    def check(self) -> None:
        """Probe the configured store; raise ``TransportError`` if unusable.

        The default sends an empty batch.  Used by ``sfeventlog transports
        --check``.
        """
        self.record_event_batch([])

    def probe(self) -> bool | None:
        """A cheap, quick readiness check, used while the drainer backs off.

        Returns True when the store itself answers again (not merely a
        server in front of it), False when it does not,
        None when this transport has no cheap probe (the default).  Must
        return within about a second and never raise for an outage.  The
        drainer calls it about once a second during long backoff sleeps, so
        it can retry soon after the store recovers instead of sleeping out
        a delay of up to 30 s.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, default is a no-op
        """Release connections. Safe to call twice."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def in_flight_depth(transport: Transport | type[Transport]) -> int:
    """The ``max_in_flight`` of a transport or its class, checked; raises
    ``ConfigError`` naming the problem."""
    depth = getattr(transport, "max_in_flight", 0)
    cls = transport if isinstance(transport, type) else type(transport)
    if type(depth) is not int or not 0 <= depth <= MAX_IN_FLIGHT:
        raise ConfigError(f"transport {cls.__name__}: max_in_flight must be an int"
                          f" from 0 to {MAX_IN_FLIGHT}, got {depth!r}")
    return depth
