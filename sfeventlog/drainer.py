"""The drain loop: spool -> Transport, deleting rows only once delivered."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from functools import partial

import tenacity

from sfeventlog import metrics
from sfeventlog.backoff import wait_equal_jitter
from sfeventlog.errors import ConfigError, PermanentError, RetryableError
from sfeventlog.payload import UnparseableRow, encode, parse_row, payload_from_record
from sfeventlog.records import EventRecord
from sfeventlog.senders import Senders
from sfeventlog.spool import Spool
from sfeventlog.transport import Transport, in_flight_depth

LOG = logging.getLogger(__name__)

DRAIN_BATCH_SIZE = 100
DRAIN_POLL_INTERVAL = 0.1
#: How often a long backoff asks ``Transport.probe()`` whether the store is back.
PROBE_INTERVAL = 1.0
#: Payload bytes per batch: with the per-event limits this keeps a request
#: well inside MariaDB's and gRPC's default 16 MiB limits.
DRAIN_BATCH_MAX_BYTES = 4 * 1024 * 1024
SHUTDOWN_DRAIN_TIMEOUT = 20.0
#: How often an idle drainer retries an orphan rescue that could not finish.
RESCUE_RETRY_SECONDS = 10.0
THREAD_NAME = "eventlog-drainer"
#: Names of the threads that run transport calls for a transport with ``max_in_flight``.
SENDER_THREAD_NAME = "eventlog-sender"
_MAX_REMEMBERED_ERRORS = 256

#: Test seam: called after the store accepted a batch and before the spool
#: delete.  Fault tests use it to kill the process exactly there.
AfterCommitHook = Callable[[Sequence[int]], None]
#: Retries a deferred orphan rescue; returns True while something is still deferred.
RescueHook = Callable[[], bool]


@dataclass(frozen=True)
class _Item:
    row_id: int
    raw: bytes
    record: EventRecord


@dataclass(frozen=True)
class _Flight:
    """A batch handed to a sender thread, not yet settled."""

    items: list[_Item]
    future: Future[None]


class Drainer:
    """Moves spool rows to a transport on a background thread.

    Rows leave the spool only after ``record_event_batch`` returned (the
    store owns them) or, for records the store rejects and rows that cannot
    be parsed, by moving to the spool's dead-letter table.  Any failure
    keeps the rows and backs off; the thread survives every exception.

    A transport whose ``max_in_flight`` is n >= 1 gets its calls from n
    sender threads, up to n batches at once, while this thread reads and
    parses the next batch.  Batches are settled (deleted, or bisected and
    dead-lettered) strictly in spool order: a batch that fails stops the
    settling, and every batch behind it keeps its rows to be sent again
    (the store ignores the copies it already has).
    """

    def __init__(
        self,
        spool: Spool,
        transport: Transport,
        transport_name: str,
        *,
        batch_size: int = DRAIN_BATCH_SIZE,
        poll_interval: float = DRAIN_POLL_INTERVAL,
        wait: tenacity.wait.wait_base | None = None,
        after_commit: AfterCommitHook | None = None,
        rng: Callable[[], float] = random.random,
        rescue: RescueHook | None = None,
    ) -> None:
        self.spool = spool
        self.transport = transport
        self.transport_name = transport_name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.after_commit = after_commit
        self._rescue = rescue
        self._next_rescue = time.monotonic() + RESCUE_RETRY_SECONDS
        self._rng = rng
        self._wake = threading.Event()
        # Held while the thread works, never while it waits: fork() takes it
        # (``quiesce``) so no child inherits a lock this thread held inside
        # SQLite, an import or a metric, which would hang the child.
        self._active = threading.RLock()
        # Set by ``quiesce``: a pipelined drain stops reading, settles what
        # is in flight and lets go of ``_active``.
        self._hold = threading.Event()
        self._depth = in_flight_depth(transport)
        self._senders = Senders(self._depth, SENDER_THREAD_NAME) if self._depth else None
        self._stopping = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._seen_errors: set[tuple[str, str]] = set()
        # A probe that said "ready" and was wrong (the next attempt failed)
        # is not asked again until a batch goes through: a server whose
        # health ignores its store must not turn every backoff into ~1 s.
        self._probe_cut_short = False
        self._probe_trusted = True
        self._retrying = tenacity.Retrying(
            wait=wait if wait is not None else wait_equal_jitter(),
            retry=tenacity.retry_if_exception_type(),  # every failure backs off
            stop=self._give_up,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        self._batch_counters = {
            outcome: metrics.DRAIN_BATCHES.labels(transport=transport_name, outcome=outcome)
            for outcome in metrics.DRAIN_OUTCOMES
        }
        self._events_counter = metrics.DRAIN_EVENTS.labels(transport=transport_name)

    # -- control -------------------------------------------------------

    def start(self) -> None:
        """Start the ``eventlog-drainer`` thread."""
        self._thread = threading.Thread(target=self.run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float = SHUTDOWN_DRAIN_TIMEOUT) -> bool:
        """Drain until the spool is empty or ``drain_timeout`` passes, then stop.

        Returns True when the thread finished within the timeout.
        """
        self._deadline = time.monotonic() + max(0.0, drain_timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is None:
            return True
        # A transport call in flight may run past the deadline by its own
        # timeout; give it a little room, then leave the daemon thread.
        self._thread.join(max(0.0, drain_timeout) + 5.0)
        finished = not self._thread.is_alive()
        if finished and self._senders is not None:
            self._senders.shutdown()
        return finished

    def quiesce(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the thread to be between steps, with no
        transport call in flight, and hold it there."""
        self._hold.set()
        if self._active.acquire(timeout=timeout):
            return True
        self._hold.clear()
        return False

    def resume(self) -> None:
        """Release what a successful ``quiesce`` took."""
        self._hold.clear()
        self._active.release()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _past_deadline(self) -> bool:
        return self._stopping and time.monotonic() >= self._deadline

    # -- loop ----------------------------------------------------------

    def run(self) -> None:
        """The thread body. Never raises."""
        while not self._past_deadline():
            # An empty read ends the drain only if the stop came before it:
            # rows added just before stop() must not be left behind.
            stopping = self._stopping
            try:
                sent = self._retrying(self.drain_available if self._depth else self.drain_once)
            except Exception as exc:  # noqa: BLE001 - the thread must not die
                if self._stopping:
                    break
                self._note_unexpected(exc)
                self._sleep(self.poll_interval)
                continue
            if sent == 0:
                if stopping:
                    break
                if self._stopping:
                    continue
                with self._active:
                    self._retry_deletes()
                    self._retry_rescue()
                self._wake.wait(self.poll_interval)
        with self._active:
            metrics.DRAIN_BACKOFF.set(0)

    def _retry_deletes(self) -> None:
        # Delivered rows whose delete failed wait for the disk to allow it.
        try:
            self.spool.retry_deletes()
        except Exception as exc:  # noqa: BLE001 - the thread must not die
            self._note_unexpected(exc)

    def _retry_rescue(self) -> None:
        # Orphans left in place because our own write failed (a full disk).
        if self._rescue is None or time.monotonic() < self._next_rescue:
            return
        self._next_rescue = time.monotonic() + RESCUE_RETRY_SECONDS
        try:
            if not self._rescue():
                self._rescue = None
        except Exception as exc:  # noqa: BLE001 - the thread must not die
            self._note_unexpected(exc)

    def drain_once(self) -> int:
        """Deliver (or dead-letter) the oldest batch. Returns rows handled.

        One batch, one call, on this thread, whatever the transport's
        ``max_in_flight``.  Raises ``RetryableError`` (or anything
        unexpected) with the rows kept.
        """
        with self._active:
            return self._drain_once()

    def drain_available(self) -> int:
        """Deliver (or dead-letter) batches until the spool is empty. Returns rows handled.

        With a transport whose ``max_in_flight`` is n >= 1, up to n batches
        are in flight on the sender threads while the next one is read and
        parsed, and each is deleted only once the store owns it and every
        batch before it is settled.  With 0, ``drain_once`` until it finds
        nothing.  Returns early, with nothing in flight, once ``quiesce`` or
        the stop deadline asks.  Raises ``RetryableError`` (or anything
        unexpected) once nothing is in flight, every unsettled row kept.
        """
        if self._senders is None:
            handled = 0
            while not self._hold.is_set() and not self._past_deadline():
                sent = self.drain_once()
                if not sent:
                    break
                handled += sent
            return handled
        with self._active:
            return self._drain_pipelined(self._senders)

    def _drain_pipelined(self, senders: Senders) -> int:
        flights: deque[_Flight] = deque()
        ready: list[_Item] | None = None  # read and parsed, not yet sent
        handled, after, exhausted = 0, 0, False
        try:
            while True:
                if not exhausted and (self._hold.is_set() or self._past_deadline()):
                    exhausted, ready = True, None  # its rows stay for later
                if ready is None and not exhausted:
                    rows = self.spool.dequeue_batch(self.batch_size, DRAIN_BATCH_MAX_BYTES,
                                                    after=after)
                    if not rows:
                        exhausted = True
                    else:
                        handled += len(rows)
                        after = rows[-1][0]
                        ready = self._parse(rows)
                if ready is not None and len(flights) < self._depth:
                    self._submit(senders, ready, flights)
                    ready = None
                    continue
                if not flights:
                    break
                oldest = flights.popleft()
                try:
                    oldest.future.result()
                except PermanentError as exc:
                    # Bisect with nothing else in flight: its sends are the
                    # transport's only calls, as ``max_in_flight`` allows.
                    wait([flight.future for flight in flights])
                    self._isolate(oldest.items, exc, attempts=1, first_seen=time.time())
                    continue
                if ready is not None:
                    # Keep the store busy: the next call goes out before this delete.
                    self._submit(senders, ready, flights)
                    ready = None
                self._delivered(oldest.items)
        except BaseException:
            # Nothing may be in flight when the error goes up (a retry would
            # resend it, a fork would copy it): wait, keep their rows.
            wait([flight.future for flight in flights])
            raise
        if handled:
            self._made_progress()
        return handled

    def _made_progress(self) -> None:
        """Rows went through: no backoff, and the probe is trusted again."""
        metrics.DRAIN_BACKOFF.set(0)
        self._probe_cut_short, self._probe_trusted = False, True

    def _submit(self, senders: Senders, items: list[_Item], flights: deque[_Flight]) -> None:
        if items:  # (every row of the batch may have been dead-lettered)
            call = partial(self._call, [item.record for item in items])
            flights.append(_Flight(items, senders.submit(call)))

    def _drain_once(self) -> int:
        rows = self.spool.dequeue_batch(self.batch_size, DRAIN_BATCH_MAX_BYTES)
        if not rows:
            return 0
        items = self._parse(rows)
        if items:
            try:
                self._send(items)
            except PermanentError as exc:
                self._isolate(items, exc, attempts=1, first_seen=time.time())
        self._made_progress()
        return len(rows)

    def _parse(self, rows: Sequence[tuple[int, bytes]]) -> list[_Item]:
        """The rows as records; unparseable ones go to the dead letters."""
        items: list[_Item] = []
        for row_id, raw in rows:
            try:
                record, generated_uuid = parse_row(raw)
            except UnparseableRow as exc:
                self.spool.move_to_deadletter(
                    row_id, raw, reason="unparseable", error=str(exc),
                    error_class=type(exc).__name__, attempts=0, first_seen=time.time(),
                )
                LOG.error("spool row %d is unparseable, moved to dead-letter: %s", row_id, exc)
                continue
            if generated_uuid:
                # Persist the new key first so a retry resends the same uuid.
                raw = encode(payload_from_record(record))
                self.spool.rewrite(row_id, raw)
            items.append(_Item(row_id, raw, record))
        return items

    def _send(self, items: Sequence[_Item]) -> None:
        self._call([item.record for item in items])
        self._delivered(items)

    def _call(self, records: list[EventRecord]) -> None:
        """The transport call, timed and counted (on a sender thread when pipelined)."""
        started = time.perf_counter()
        try:
            self.transport.record_event_batch(records)
        except PermanentError:
            self._batch_counters["permanent"].inc()
            raise
        except RetryableError:
            self._batch_counters["retryable"].inc()
            raise
        except Exception:
            self._batch_counters["error"].inc()
            raise
        finally:
            metrics.DRAIN_SEND_SECONDS.observe(time.perf_counter() - started)
        self._batch_counters["ok"].inc()

    def _delivered(self, items: Sequence[_Item]) -> None:
        """The store owns ``items``: take them out of the spool."""
        ids = [item.row_id for item in items]
        if self.after_commit is not None:
            self.after_commit(ids)
        self.spool.delete_ids(ids)
        self._events_counter.inc(len(items))

    def _isolate(
        self, items: Sequence[_Item], exc: PermanentError, *, attempts: int, first_seen: float
    ) -> None:
        """Bisect a rejected batch: deliver the good records, dead-letter the bad.

        ``items`` as a whole was rejected with ``exc``.  Each half is sent on
        its own, because a rejection may be about the batch (too large for a
        message limit) rather than one record; so a record is dead-lettered
        only after it was rejected alone.  One bad record in 100 costs about
        2 * log2(100) extra calls.
        """
        if len(items) == 1:
            item = items[0]
            self.spool.move_to_deadletter(
                item.row_id, item.raw, reason="rejected", error=str(exc),
                error_class=type(exc).__name__, attempts=attempts, first_seen=first_seen,
            )
            LOG.error("event %s rejected by the store, moved to dead-letter: %s",
                      item.record.event_uuid, exc)
            return
        mid = len(items) // 2
        for half in (items[:mid], items[mid:]):
            try:
                self._send(half)
            except PermanentError as half_exc:
                self._isolate(half, half_exc, attempts=attempts + 1, first_seen=first_seen)

    # -- tenacity hooks --------------------------------------------------

    def _give_up(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._past_deadline()

    def _sleep(self, seconds: float) -> None:
        if self._stopping:
            # The wake event stays set once stopping; sleep plainly, but
            # never past the drain deadline.
            time.sleep(min(seconds, max(0.0, self._deadline - time.monotonic())))
            return
        until = time.monotonic() + seconds
        # Long backoffs are cut short once the transport's cheap probe says
        # the store is back; short ones are not worth probing.
        while self._probe_trusted and until - time.monotonic() > 2 * PROBE_INTERVAL:
            if self._wake.wait(PROBE_INTERVAL):
                return
            if self._probe_says_ready():
                self._probe_cut_short = True
                # Spread the nodes that all noticed the recovery together.
                self._wake.wait(self._rng() * PROBE_INTERVAL)
                return
        self._wake.wait(max(0.0, until - time.monotonic()))

    def _probe_says_ready(self) -> bool:
        try:
            ready = self.transport.probe()
        except Exception:  # noqa: BLE001 - a failing probe means "not yet"
            return False
        if ready:
            LOG.info("the store answers again; retrying before the backoff ends")
        return bool(ready)

    def _before_sleep(self, retry_state: tenacity.RetryCallState) -> None:
        with self._active:
            self._log_retry(retry_state)

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        delay = retry_state.upcoming_sleep
        metrics.DRAIN_BACKOFF.set(delay)
        if self._probe_cut_short and self._probe_trusted:
            self._probe_trusted = False
            LOG.warning("%s said the store was ready, but the retry failed: not probing"
                        " again until a batch is delivered (backoffs run in full)",
                        self.transport_name)
        self._probe_cut_short = False
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ConfigError):
            self._note_config_error(exc)
        elif isinstance(exc, RetryableError):
            LOG.warning("delivery via %s failed (attempt %d), retrying in %.2fs: %s",
                        self.transport_name, retry_state.attempt_number, delay, exc)
        elif exc is not None:
            self._note_unexpected(exc)

    def _note_config_error(self, exc: ConfigError) -> None:
        """Count; log each distinct one once, loudly, without a traceback.

        The rows are kept: they go out once an operator fixes the setting.
        """
        metrics.DRAIN_ERRORS.labels(error=type(exc).__name__).inc()
        key = (type(exc).__name__, str(exc))
        if key in self._seen_errors:
            return
        if len(self._seen_errors) < _MAX_REMEMBERED_ERRORS:
            self._seen_errors.add(key)
        LOG.error("delivery via %s needs a configuration fix (events are kept until"
                  " then): %s", self.transport_name, exc)

    def _note_unexpected(self, exc: BaseException) -> None:
        """Count every unexpected error; log each distinct one once."""
        with self._active:
            self._count_unexpected(exc)

    def _count_unexpected(self, exc: BaseException) -> None:
        metrics.DRAIN_ERRORS.labels(error=type(exc).__name__).inc()
        key = (type(exc).__name__, str(exc))
        if key in self._seen_errors:
            LOG.debug("drainer error again: %s", exc)
            return
        if len(self._seen_errors) < _MAX_REMEMBERED_ERRORS:
            self._seen_errors.add(key)
        LOG.error("unexpected error in the eventlog drainer (treated as retryable)",
                  exc_info=(type(exc), exc, exc.__traceback__))
