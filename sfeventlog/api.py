"""The caller API: ``add_event``, ``add_event_multi``, ``start`` and ``stop``.

Before ``start()``: ``add_event`` still spools durably.  The spool is opened
on first use in ``eventlog_spool_dir`` under the program's name, and its rows
are drained once this process calls ``start()``.  If it never does, the file
is an orphan, rescued by the next process that starts in that directory (or
by ``sfeventlog drain``).  No event is dropped for being early.

After ``fork()``: the child never touches the parent's connection or
drainer.  Its first event opens its own spool file, and if the parent had
started, the child starts its own drainer with the same settings; the
transport is loaded and orphans rescued on that drainer's thread, never on
the caller's.
"""

from __future__ import annotations

import atexit
import errno
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sfeventlog import hostname, metrics
from sfeventlog.config import Settings
from sfeventlog.drainer import SHUTDOWN_DRAIN_TIMEOUT, Drainer
from sfeventlog.errors import ConfigError
from sfeventlog.loader import load_transport
from sfeventlog.orphans import rescue_orphans
from sfeventlog.payload import build_payload, encode
from sfeventlog.request_context import current_request_id
from sfeventlog.spool import Spool, open_own_spool, prepare_spool_dir
from sfeventlog.wire.caller import set_caller_daemon

LOG = logging.getLogger(__name__)
#: The "Added event" line of every recorded event (upstream's echo to Loki);
#: its own logger so it can be routed or silenced apart from the rest.
EVENT_LOG = logging.getLogger("sfeventlog.events")

#: How long ``start()`` waits for the host's FQDN lookup (never a caller).
FQDN_WAIT = 1.0


class _State:
    """Everything one process holds; reset in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pid = os.getpid()
        self.settings: Settings | None = None
        self.daemon_name: str | None = None
        self.spool: Spool | None = None
        self.drainer: Drainer | None = None
        #: A forked child's drainer setup, still loading the transport.
        self.setup: threading.Thread | None = None
        self.started = False
        self.drop_counts: dict[str, int] = {}
        # The last failed spool open (a full disk) and when to try again.
        self.open_error: OSError | None = None
        self.open_retry_at = 0.0


_state = _State()
_atexit_registered = False

#: After a spool open failed for lack of space, ``add_event`` drops without
#: trying again for this long (a full disk is not cleared in microseconds).
OPEN_RETRY_SECONDS = 1.0


def _program_name() -> str:
    base = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "python")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", base).lstrip("-.")
    return name or "python"


def _settings() -> Settings:
    if _state.settings is None:
        _state.settings = Settings()
    return _state.settings


def _open_spool(settings: Settings, daemon_name: str) -> Spool:
    if _state.open_error is not None and time.monotonic() < _state.open_retry_at:
        raise _state.open_error
    prepare_spool_dir(settings.eventlog_spool_dir)
    try:
        spool = open_own_spool(
            settings.eventlog_spool_dir, daemon_name, os.getpid(),
            durability=settings.eventlog_spool_durability,
            high_water_mark=settings.eventlog_spool_high_water_mark,
        )
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            _state.open_error, _state.open_retry_at = exc, time.monotonic() + OPEN_RETRY_SECONDS
        raise
    _state.open_error = None
    return spool


def _drop_reason(exc: OSError) -> str:
    return "disk_full" if exc.errno == errno.ENOSPC else "spool_error"


def _current_spool() -> Spool | None:
    spool = _state.spool
    return spool if spool is not None and _state.pid == os.getpid() else None


metrics.set_spool_provider(_current_spool)


def _spool_for_caller() -> Spool:
    spool = _current_spool()
    if spool is not None:
        return spool
    with _state.lock:
        if _state.pid != os.getpid():
            _reset_after_fork()
        if _state.spool is None:
            settings = _settings()
            _state.spool = _open_spool(settings, _state.daemon_name or _program_name())
            if _state.started:
                # A forked child of a started parent: drain its own spool,
                # setting up off this caller's thread.
                _start_drainer_in_background(settings)
        return _state.spool


# Held around drop counting and across fork(): a metric's lock held by
# another thread at the fork would stay locked in the child.
_drop_lock = threading.Lock()


def _count_drop(reason: str) -> None:
    with _drop_lock:
        metrics.SPOOL_DROPPED.labels(reason=reason).inc()
        n = _state.drop_counts.get(reason, 0) + 1
        _state.drop_counts[reason] = n
    if n == 1 or n % 100 == 0:
        LOG.warning("eventlog spool dropped an event (reason %s, %d so far)", reason, n)


def add_event(
    event_type: str,
    object_type: str,
    object_uuid: str | uuid.UUID,
    message: str,
    duration: float | None = None,
    extra: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    *,
    timestamp: float | None = None,
    suppress_event_logging: bool = False,
    log_as_error: bool = False,
) -> bool:
    """Record an event about one object. See ``add_event_multi``."""
    return add_event_multi(
        event_type, [(object_type, object_uuid)], message,
        duration=duration, extra=extra, request_id=request_id, timestamp=timestamp,
        suppress_event_logging=suppress_event_logging, log_as_error=log_as_error,
    )


def add_event_multi(
    event_type: str,
    objects: Iterable[tuple[str, str | uuid.UUID] | Any],
    message: str,
    duration: float | None = None,
    extra: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    *,
    timestamp: float | None = None,
    suppress_event_logging: bool = False,
    log_as_error: bool = False,
) -> bool:
    """Record one event about several objects.

    ``objects`` holds ``(object_type, object_uuid)`` pairs or upstream-style
    objects with ``object_type`` and ``uuid`` attributes.  Identifiers may be
    str, ``uuid.UUID`` or str-valued enum members (stored as their text).
    It is a set in effect: a repeated pair is dropped (the store keys
    objects per event).  Returns True once the event is durably in this
    process's spool, False only when it was dropped (high-water mark
    reached, disk full, spool unusable); every drop is counted in
    ``eventlog_spool_dropped_total``.
    Never waits on the network.  Raises ``ValueError`` naming the bad
    argument, and then writes nothing.

    As upstream, the event is also logged as "Added event" on the
    ``sfeventlog.events`` logger, with its fields in the record attribute
    ``sfeventlog_event``: at INFO, at ERROR with ``log_as_error``, not at
    all with ``suppress_event_logging`` or when ``log_events_to_loki`` is off.
    """
    if request_id is None:
        request_id = current_request_id()
    settings = _settings()
    payload = build_payload(
        event_type=event_type, objects=objects, message=message,
        fqdn=settings.fqdn(), duration=duration, extra=extra,
        request_id=request_id, timestamp=timestamp,
    )
    if not suppress_event_logging and settings.log_events_to_loki:
        _log_added(payload, logging.ERROR if log_as_error else logging.INFO)
    try:
        spool = _spool_for_caller()
    except ConfigError as exc:
        LOG.error("eventlog spool unavailable: %s", exc)
        _count_drop("spool_error")
        return False
    except OSError as exc:
        why = _drop_reason(exc)
        if _state.drop_counts.get(why, 0) == 0:
            LOG.error("eventlog spool unavailable: %s", exc)
        _count_drop(why)
        return False
    reason = spool.enqueue(encode(payload))
    if reason is not None:
        _count_drop(reason)
        spool.note_drop(reason)
        return False
    return True


def _log_added(payload: Mapping[str, Any], level: int) -> None:
    if not EVENT_LOG.isEnabledFor(level):
        return  # the usual case in a quiet daemon: build nothing
    # Upstream's fields: the event's, then each object as {object_type: object_uuid}.
    # ``extra`` as spooled, so a JSON log formatter never meets a raw UUID.
    fields: dict[str, Any] = {
        "event_type": payload["event_type"], "fqdn": payload["fqdn"],
        "duration": payload["duration"], "message": payload["message"],
        "extra": json.loads(payload["extra"]) if payload["extra"] else {},
        "event_uuid": payload["event_uuid"], "request_id": payload["request_id"],
    }
    fields.update((t, u) for t, u in payload["objects"])
    EVENT_LOG.log(level, "Added event", extra={"sfeventlog_event": fields})


def _start_drainer(settings: Settings) -> None:
    spool = _state.spool
    assert spool is not None
    transport = load_transport(settings)
    deferred: list[Path] = []
    _rescue(spool, deferred)

    def rescue_again() -> bool:
        still: list[Path] = []
        _rescue(spool, still)
        return bool(still)

    _state.drainer = Drainer(spool, transport, settings.eventlog_transport,
                             rescue=rescue_again if deferred else None)
    _state.drainer.start()


def _rescue(spool: Spool, deferred: list[Path]) -> None:
    """Rescue orphans; trouble of our own (a read-only or full disk, a
    permission) defers the rescue to the drainer instead of failing start()."""
    try:
        rescue_orphans(spool, deferred=deferred)
    except OSError as exc:
        LOG.warning("orphan rescue in %s failed (%s); the drainer tries again later",
                    spool.path.parent, exc)
        deferred.append(spool.path.parent)


def _start_drainer_in_background(settings: Settings) -> None:
    """``_start_drainer`` on a thread of its own (a forked child's first event)."""
    spool = _state.spool

    def setup() -> None:
        # The lock keeps stop() from racing the setup; callers' add_event
        # does not take it once the spool is open.
        with _state.lock:
            if _state.spool is not spool or _state.drainer is not None or not _state.started:
                return
            try:
                _start_drainer(settings)
            except Exception:
                LOG.exception("cannot start the eventlog drainer in this forked child;"
                              " its events stay in %s", spool.path if spool else "the spool")

    thread = threading.Thread(target=setup, name="eventlog-drainer-setup", daemon=True)
    _state.setup = thread
    thread.start()


def start(daemon_name: str, settings: Settings | None = None) -> None:
    """Open this process's spool, rescue orphans and start the drainer.

    The transport is loaded here, so a wrong name or a broken plugin raises
    ``TransportLoadError`` now rather than inside the thread; a spool
    directory that cannot be used raises ``ConfigError`` naming it and the
    key to set.  A full disk raises nothing: the first ``add_event`` that
    can open the spool starts the drainer.  Calling it again in the same
    process does nothing.
    """
    global _atexit_registered
    if not daemon_name or "/" in daemon_name:
        raise ValueError(f"daemon_name must be a non-empty name without '/', got {daemon_name!r}")
    with _state.lock:
        if _state.pid != os.getpid():
            _reset_after_fork()
        if _state.started:
            LOG.debug("sfeventlog.start() called again; already started")
            return
        settings = settings if settings is not None else _settings()
        if settings.node_name is None and not hostname.wait(FQDN_WAIT):
            LOG.warning("the host's FQDN lookup is slow (DNS?); events carry %r until it"
                        " finishes (set SHAKENFIST_NODE_NAME to skip it)", settings.fqdn())
        transport = load_transport(settings)  # fail fast, before touching disk
        transport.close()
        _state.settings = settings
        _state.daemon_name = daemon_name
        set_caller_daemon(daemon_name)  # upstream's caller-daemon metadata
        if _state.spool is None:
            try:
                _state.spool = _open_spool(settings, daemon_name)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                # A full disk is not a configuration error: the first
                # add_event that can open the spool starts the drainer.
                LOG.error("eventlog spool not opened yet: %s", exc)
        if _state.spool is not None:
            _start_drainer(settings)
        _state.started = True
        if not _atexit_registered:
            atexit.register(stop)
            _atexit_registered = True


def stop(drain_timeout: float = SHUTDOWN_DRAIN_TIMEOUT) -> bool:
    """Drain until the spool is empty or ``drain_timeout`` passes, then stop.

    Rows still spooled stay on disk and are rescued by the next process to
    start in the same directory.  Returns True if the spool was left empty.
    Safe to call more than once and at exit.
    """
    started = time.monotonic()
    setup = _state.setup
    if setup is not None and _state.pid == os.getpid():
        # A forked child stopping before its drainer exists: let the setup
        # finish, so the drain below has a drainer (it shares the timeout).
        setup.join(drain_timeout)
        drain_timeout = max(0.0, drain_timeout - (time.monotonic() - started))
    with _state.lock:
        _state.setup = None
        if _state.pid != os.getpid():
            _reset_after_fork()
            return True
        drainer, spool = _state.drainer, _state.spool
        _state.drainer = None
        _state.spool = None
        _state.started = False
    if drainer is not None:
        drainer.stop(drain_timeout)
        drainer.transport.close()
    empty = True
    if spool is not None:
        empty = spool.count() == 0
        spool.close(remove_if_empty=True)
    return empty


def _reset_after_fork() -> None:
    # Runs in the child: drop the parent's spool handle and thread object
    # without using them.  ``started`` and the settings carry over.
    if _state.spool is not None:
        _state.spool.abandon_after_fork()
    _state.spool = None
    _state.drainer = None
    _state.setup = None
    _state.pid = os.getpid()
    _state.drop_counts = {}
    _state.open_error = None


#: How long fork() waits for the drainer to finish its current step (a
#: batch write); past it (a slow network call) the fork goes ahead.
FORK_QUIESCE_SECONDS = 5.0

# What ``_before_fork`` quiesced, released on both sides of the fork.
_quiesced: tuple[Drainer | None, Spool | None] = (None, None)


def _before_fork() -> None:
    # No thread of ours may be inside SQLite, an import or a metric update
    # while the process forks: a lock it held would stay locked in the child
    # and hang it.  Lock order: the state lock, the drainer (whose steps take
    # the spool's lock), then the spool's lock.
    global _quiesced
    _state.lock.acquire()
    _drop_lock.acquire()
    mine = _state.pid == os.getpid()
    drainer = _state.drainer if mine else None
    if drainer is not None and not drainer.quiesce(FORK_QUIESCE_SECONDS):
        LOG.warning("fork() while the eventlog drainer has been busy for %.0fs; not waiting",
                    FORK_QUIESCE_SECONDS)
        drainer = None
    spool = _current_spool()
    if spool is not None:
        spool.quiesce()
    _quiesced = (drainer, spool)


def _resume_after_fork() -> None:
    global _quiesced
    drainer, spool = _quiesced
    _quiesced = (None, None)
    if spool is not None:
        spool.resume()
    if drainer is not None:
        drainer.resume()


def _after_fork_in_parent() -> None:
    _resume_after_fork()
    _drop_lock.release()
    _state.lock.release()


def _after_fork_in_child() -> None:
    _resume_after_fork()
    _drop_lock.release()
    _state.lock = threading.RLock()
    _reset_after_fork()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)


def current_spool() -> Spool | None:
    """This process's open spool, if any (for tools and tests)."""
    return _current_spool()


def reset_for_tests(settings: Settings | None = None) -> None:
    """Stop everything and forget state; tests use this between cases."""
    stop(drain_timeout=0)
    _state.settings = settings
    _state.daemon_name = None
    _state.drop_counts = {}
    _state.open_error = None
