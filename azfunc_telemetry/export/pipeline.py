"""The bounded queue between callers and the export thread, and the export thread itself.

``submit()`` is the only part on the caller's path: a length check, a ``deque.append`` and, when
a batch is ready, waking the thread. Everything else (building envelopes, scrubbing, sending,
retrying, persisting, periodic metrics) happens on one daemon thread. ``flush`` and ``shutdown``
are bounded by their timeouts whatever the endpoint does.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from ..diagnostics import logger, warn_once
from ..model.records import QueueItem
from . import Exporter, Formatter
from .forksafe import importing
from .stats import DeliveryStats, TelemetryStats

__all__ = ["PeriodicTask", "Pipeline"]

_IDLE_WAIT_S = 1.0

#: The backend's wire item (an Application Insights envelope for the default backend).
Wire = TypeVar("Wire")


class _FlushRequest:
    """A marker in the queue: everything before it must be delivered for the flush to pass."""

    __slots__ = ("deadline", "done", "drops_baseline", "reached", "result")

    def __init__(self, deadline: float, drops_baseline: int) -> None:
        self.deadline = deadline
        self.drops_baseline = drops_baseline
        self.reached = False
        self.done = threading.Event()
        self.result = False


class PeriodicTask:
    """Work the export thread does every ``interval_s`` (and, if ``on_flush``, at each flush)."""

    __slots__ = ("interval_s", "next_run", "on_flush", "run")

    def __init__(
        self, interval_s: float, run: Callable[[], None], *, on_flush: bool = False
    ) -> None:
        self.interval_s = interval_s
        self.run = run
        self.on_flush = on_flush
        self.next_run = 0.0


class Pipeline(Generic[Wire]):
    """Queue, export thread, flush and shutdown for one backend (a formatter and an exporter)."""

    def __init__(
        self,
        *,
        builder_factory: Callable[[], Formatter[Wire]],
        exporter_factory: Callable[[DeliveryStats], Exporter[Wire]],
        startup_probe: Callable[[], bool] = lambda: False,
        capacity: int,
        batch_size: int,
        export_interval_s: float,
        stats: DeliveryStats | None = None,
    ) -> None:
        self._builder_factory = builder_factory
        self._exporter_factory = exporter_factory
        self._startup_probe = startup_probe
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval_s = export_interval_s
        self.stats = stats or DeliveryStats()
        self._periodic: list[PeriodicTask] = []
        # One set for the pipeline's life: the handler holds a reference to it.
        self.excluded_threads: set[int] = set()
        self._start_state()
        reference = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: _call_if_alive(reference))

    def _start_state(self) -> None:
        self._items: deque[QueueItem | _FlushRequest] = deque()
        self._wake = threading.Event()
        self._flushes: list[_FlushRequest] = []
        self._flush_lock = threading.Lock()
        self._stopping = False
        self._stopped = threading.Event()
        self._flush_drops = self.stats.dropped_total()
        # Built on the export thread when first needed: their imports (http.client, ssl,
        # traceback, opencensus storage) stay off the cold-start path.
        self.exporter: Exporter[Wire] | None = None
        self._builder: Formatter[Wire] | None = None
        self._probed = False
        # Items the export thread took from the queue and is turning into envelopes.
        self._building: list[QueueItem] = []
        # Records logged on the export thread while it built envelopes (by an extra value's
        # __str__, say): built right after the batch that produced them, at most one level deep.
        self._fed_back: list[QueueItem] = []
        self._building_fed_back = False
        self.excluded_threads.clear()
        self._thread = threading.Thread(
            target=self._run, name="azfunc-telemetry-export", daemon=True
        )
        self._thread.start()
        if self._thread.ident is not None:
            self.excluded_threads.add(self._thread.ident)

    # -- caller side ----------------------------------------------------------------------

    def submit(self, item: QueueItem) -> None:
        """Queue one item without blocking; a full queue counts a drop instead."""
        items = self._items
        if len(items) >= self._capacity or self._stopping:
            if self._stopping:
                self.stats.after_shutdown()
            else:
                self.stats.queue_full()
            return
        items.append(item)
        # The first item wakes the thread (it then waits export_interval_s for company before
        # sending); a full batch cuts that wait short.
        size = len(items)
        if (size == 1 or size >= self._batch_size) and not self._wake.is_set():
            self._wake.set()

    def feed_back(self, item: QueueItem) -> None:
        """Queue a record logged on the export thread; one logged while building such a
        record is counted as dropped (``logged_during_export``) instead, so nothing recurses."""
        if self._building_fed_back or len(self._fed_back) >= self._batch_size:
            self.stats.add_dropped("logged_during_export", 1)
            warn_once(
                "drop:logged_during_export",
                "A record was logged while telemetry was turning another such record into an "
                "item (a value's __str__ that logs, say); it is dropped to avoid a loop and "
                "counted in azfunc_telemetry.stats().",
            )
            return
        self._fed_back.append(item)

    def add_periodic(self, task: PeriodicTask) -> None:
        """Run ``task`` on the export thread from now on."""
        task.next_run = time.monotonic() + task.interval_s
        self._periodic.append(task)
        self._wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything submitted so far is accepted, at most ``timeout_s``.

        Returns True only when nothing this process handed over is still pending and nothing
        was lost since the previous flush.
        """
        if self._stopped.is_set() or not self._thread.is_alive():
            return False
        for task in self._periodic:
            if task.on_flush:
                # Collected here so the items sit before the marker and are part of the flush.
                try:
                    task.run()
                except Exception:
                    logger.exception("A periodic telemetry task failed")
        request = _FlushRequest(
            deadline=time.monotonic() + max(0.0, timeout_s),
            drops_baseline=self._flush_drops,
        )
        with self._flush_lock:
            self._flushes.append(request)
        self._items.append(request)
        self._wake.set()
        finished = request.done.wait(max(0.0, timeout_s) + 0.05)
        self._flush_drops = self.stats.dropped_total()
        return finished and request.result

    def snapshot(self) -> TelemetryStats:
        """The delivery counters now."""
        return self.stats.snapshot(queued=len(self._items), pending=self._pending())

    def _pending(self) -> int:
        exporter = self.exporter
        return exporter.pending() if exporter is not None else 0

    def _ensure_exporter(self) -> Exporter[Wire]:
        if self.exporter is None:
            with importing():
                if self.exporter is None:
                    self._builder = self._builder_factory()
                    self.exporter = self._exporter_factory(self.stats)
        return self.exporter

    def shutdown(self, timeout_s: float) -> bool:
        """Deliver what is queued and stop, within ``timeout_s``.

        When the endpoint does not let that finish in time, whatever is still in memory
        (queued, held for retry, or in flight) is written to local storage from this thread.
        Returns whether the export thread finished on its own.
        """
        if self._stopped.is_set():
            return True
        # What the library says while stopping (from this thread) is shown, not queued: the
        # queue is closing, and a record queued now could only be counted as lost.
        self.excluded_threads.add(threading.get_ident())
        # Part of the time is kept for writing what is left to disk, so the whole shutdown,
        # rescue included, stays within timeout_s.
        reserve_s = min(0.2, 0.1 * max(0.0, timeout_s))
        deadline = time.monotonic() + max(0.0, timeout_s) - reserve_s
        self._stopping = True
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        clean = not self._thread.is_alive()
        if not clean:
            self._rescue()
        if self.exporter is not None:
            self.exporter.close()
        self._stopped.set()
        return clean

    def _rescue(self) -> None:
        """Save what a stuck export thread still holds; at-least-once, so a duplicate is fine."""
        envelopes = self._drain_to_envelopes()
        # The exporter says what it saved and where (or counts what it could not save).
        self._ensure_exporter().persist_pending(envelopes)
        self._resolve_flushes(force=True)

    # -- export thread --------------------------------------------------------------------

    def _run(self) -> None:
        # The exporter (and what sending imports: http.client, ssl, local storage) is built for
        # the first item, which wakes this thread at once, not at start: importing it here while
        # the app is still importing would compete with the app's own cold start for the GIL.
        while True:
            self._wake.wait(self._wait_time())
            self._wake.clear()
            if self.exporter is None and self._items:
                try:
                    self._ensure_exporter()  # loads what sending needs while the batch gathers
                except Exception:
                    logger.exception("Starting telemetry export failed")
            if self._should_linger():
                # Let the rest of the invocation join this batch: a full batch, a flush or
                # shutdown ends the wait early.
                self._wake.wait(self._interval_s)
                self._wake.clear()
            try:
                self._cycle()
            except Exception:  # never let the export thread die
                logger.exception("The telemetry export thread hit an unexpected error")
            if self._stopping and not self._items:
                break
        try:
            if self._pending():
                self._ensure_exporter().persist_pending()
        finally:
            self._resolve_flushes(force=True)

    def _should_linger(self) -> bool:
        return 0 < len(self._items) < self._batch_size and not self._flushes and not self._stopping

    def _wait_time(self) -> float:
        now = time.monotonic()
        # submit() wakes the thread for the first item of an empty queue; the idle wait only
        # covers two threads queueing that first item at the same instant.
        # With items already queued the linger below is the whole wait.
        wait = 0.0 if self._items else _IDLE_WAIT_S
        due = self.exporter.next_due() if self.exporter is not None else None
        if due is not None:
            wait = min(wait, due - now)
        for task in self._periodic:
            wait = min(wait, task.next_run - now)
        for request in list(self._flushes):
            wait = min(wait, request.deadline - now)
        return max(wait, 0.001)

    def _cycle(self) -> None:
        now = time.monotonic()
        for task in self._periodic:
            if now >= task.next_run:
                task.next_run = now + task.interval_s
                try:
                    task.run()
                except Exception:
                    logger.exception("A periodic telemetry task failed")
        if self.exporter is None:
            if not self._probed:
                self._probed = True
                with importing():  # the probe imports local storage: no fork may split that
                    stored = self._startup_probe()
                if stored:
                    self._ensure_exporter()
            if self._items:
                self._ensure_exporter()
        while self._items:
            self._export(self._take_batch())
            self._warn_if_dropping()
        self._warn_if_dropping()
        if self.exporter is not None:
            self.exporter.maintain(time.monotonic())
        self._resolve_flushes(force=False)

    def _warn_if_dropping(self) -> None:
        """Say once, as soon as it starts, that a full queue is turning items away."""
        if self.stats.queue_full_count():
            warn_once(
                "drop:queue_full",
                "Telemetry is arriving faster than it can be exported: the queue is full "
                "(%d items, setting AZFUNC_TELEMETRY_QUEUE_SIZE), so new items are dropped. "
                "Every one is counted in azfunc_telemetry.stats().dropped_by_cause"
                "['queue_full']; this warning is not repeated.",
                self._capacity,
            )

    def _take_batch(self) -> list[QueueItem]:
        batch: list[QueueItem] = []
        self._building = batch
        popleft = self._items.popleft
        while len(batch) < self._batch_size:
            try:
                item = popleft()
            except IndexError:
                break
            if isinstance(item, _FlushRequest):
                item.reached = True
                break
            batch.append(item)
        return batch

    def _export(self, batch: list[QueueItem]) -> None:
        envelopes = self._build(batch)
        self._building = []
        if not envelopes:
            return
        try:
            self._ensure_exporter().export(envelopes)
        except Exception:
            # The exporter contract says this cannot happen; if it does, the loss is counted.
            self.stats.add_dropped("export_error", len(envelopes))
            logger.exception("Exporting %d telemetry item(s) failed", len(envelopes))

    def _build(self, batch: list[QueueItem]) -> list[Wire]:
        envelopes: list[Wire] = []
        self._ensure_exporter()
        assert self._builder is not None
        build = self._builder.build
        for item in batch:
            try:
                envelope = build(item)
            except Exception:
                self.stats.add_dropped("unrepresentable", 1)
                continue
            if envelope is not None:
                envelopes.append(envelope)
        if self._fed_back and not self._building_fed_back:
            self._build_fed_back(envelopes)
        return envelopes

    def _build_fed_back(self, envelopes: list[Wire]) -> None:
        """Add the records logged while ``envelopes`` were built; see :meth:`feed_back`."""
        items, self._fed_back = self._fed_back, []
        self._building_fed_back = True
        try:
            envelopes.extend(self._build(items))
        finally:
            self._building_fed_back = False

    def _drain_to_envelopes(self) -> list[Wire]:
        batch: list[QueueItem] = list(self._building)
        while True:
            try:
                item = self._items.popleft()
            except IndexError:
                break
            if not isinstance(item, _FlushRequest):
                batch.append(item)
        return self._build(batch)

    def _resolve_flushes(self, *, force: bool) -> None:
        if not self._flushes:
            return
        now = time.monotonic()
        pending = self._pending()
        with self._flush_lock:
            remaining = []
            for request in self._flushes:
                delivered = request.reached and pending == 0
                if delivered or force or now >= request.deadline:
                    request.result = (
                        delivered and self.stats.dropped_total() == request.drops_baseline
                    )
                    request.done.set()
                else:
                    remaining.append(request)
            self._flushes = remaining

    def _after_fork_in_child(self) -> None:
        """A forked worker process gets its own queue, thread and connection."""
        if self._stopped.is_set():
            return
        # Counters and their lock start afresh: another thread may have held the lock at fork.
        self.stats = DeliveryStats()
        self._start_state()


def _call_if_alive(reference: weakref.WeakMethod[Callable[[], None]]) -> None:
    method = reference()
    if method is not None:
        try:
            method()
        except Exception:
            logger.exception("Restarting telemetry after fork failed")
