"""How busy the worker is: in-flight invocations, the thread pool's real size, saturation.

Sync functions run on the worker's ``ThreadPoolExecutor``; when every thread is busy, new
invocations queue and the app slows down without any error. The tracker counts invocations as
the wrapper enters and leaves them (so the counts are never above the truth), finds the pool the
current thread belongs to, and reads its real size and backlog from it.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from ..model.invocation import InvocationStart

__all__ = [
    "ConcurrencyTracker",
    "InvocationStart",
    "PoolInfo",
    "TrackerSnapshot",
    "pool_size_fallback",
    "saturation_summary",
]

ENV_THREAD_COUNT = "PYTHON_THREADPOOL_THREAD_COUNT"
HOST_DEFAULT_THREAD_COUNT = 1000


class PoolInfo(NamedTuple):
    """The size of the pool sync invocations run on, where it came from, and its state.

    ``queued`` is the work waiting for a thread and ``grown`` whether the pool has started all
    its threads (``None`` for both when the pool itself cannot be seen).
    """

    size: int
    source: str
    queued: int | None
    grown: bool | None = None


class TrackerSnapshot(NamedTuple):
    """Counters over one reporting interval, then reset (peaks) or kept (totals)."""

    inflight_sync: int
    inflight_async: int
    peak_sync: int
    peak_async: int
    peak_total: int
    invocations: int
    saturated_invocations: int
    pool_size: int
    pool_source: str


def pool_size_fallback(environ: Any = None) -> tuple[int, str]:
    """The pool size when the pool itself cannot be seen: app setting, host default, CPython."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_THREAD_COUNT, "").strip()
    if raw:
        try:
            value = int(raw)
            if value > 0:
                return value, "app_setting"
        except ValueError:
            pass
    if env.get("FUNCTIONS_WORKER_RUNTIME"):
        return HOST_DEFAULT_THREAD_COUNT, "host_default"
    return min(32, (os.cpu_count() or 1) + 4), "cpython_default"


def saturation_summary(start: InvocationStart) -> str:
    """What a saturated start met, in one sentence whose figures agree with each other.

    Every thread is taken (running an invocation, or about to take a queued one) and the
    rest of the queued work waits: ``running + queued - size`` invocations (see
    :meth:`ConcurrencyTracker.enter_sync`). When the pool cannot be seen, only the running
    count is known.
    """
    size, running, queued = start.pool_size, start.inflight_sync, start.pool_queued
    source = _SOURCE_WORDS.get(start.pool_source, start.pool_source)
    if queued is None:
        busy = (
            "its only thread is running a sync invocation"
            if size == 1
            else f"all {size} of its threads are running sync invocations"
        )
        return f"The worker's thread pool is saturated: {busy} (pool size {size}, from {source})."
    waiting = max(1, running + queued - size)
    noun, verb = ("invocation", "is") if waiting == 1 else ("invocations", "are")
    taken = (
        f"its only thread is taken and {waiting} more {noun} {verb} waiting for it"
        if size == 1
        else f"all {size} of its threads are taken and {waiting} more {noun} {verb} waiting for one"
    )
    return (
        f"The worker's thread pool is saturated: {taken} ({running} running, {queued} queued, "
        f"pool size {size}, from {source})."
    )


_SOURCE_WORDS = {
    "executor": "the pool itself",
    "app_setting": "PYTHON_THREADPOOL_THREAD_COUNT",
    "host_default": "the Functions host's default",
    "cpython_default": "the Python default",
}


def _executor_of_current_thread() -> ThreadPoolExecutor | None:
    """The ``ThreadPoolExecutor`` running this thread, found through the thread's arguments.

    ``ThreadPoolExecutor`` starts each worker thread with a weak reference to itself among the
    thread's arguments (CPython 3.10 to 3.14), which is the only public-enough link.
    """
    thread = threading.current_thread()
    for arg in getattr(thread, "_args", ()) or ():
        if isinstance(arg, weakref.ReferenceType):
            target = arg()
            if isinstance(target, ThreadPoolExecutor):
                return target
    return None


class ConcurrencyTracker:
    """Process-wide invocation counters, safe under any mix of threads and tasks.

    Every invocation pays for counting itself in and out, so the common path takes no lock:
    each invocation holds a unique ticket in the set of running sync or async invocations, and
    adding, removing and measuring a set of ints are single atomic operations. The lock guards
    only the rare updates: a new peak, a saturated start, the snapshot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets = itertools.count()
        self._running_sync: set[int] = set()
        self._running_async: set[int] = set()
        #: The first ticket of the current interval: tickets issued since are its invocations.
        self._interval_first_ticket = 0
        self._peak_sync = 0
        self._peak_async = 0
        self._peak_total = 0
        self._saturated = 0
        #: Tickets taken by snapshots without a reset, which no invocation received.
        self._snapshots_since = 0
        self._local = threading.local()
        self._fallback = pool_size_fallback()
        self._fallback_pool = PoolInfo(self._fallback[0], self._fallback[1], None)
        #: The pool view of the latest sync start (``None``: the fallback), for async starts.
        self._last_view: tuple[int, Any, Any] | None = None

    def _view_info(self, view: tuple[int, Any, Any] | None) -> PoolInfo:
        """The pool ``view`` shows, measured now (the fallback when there is none)."""
        if view is None:
            return self._fallback_pool
        size, queue, threads = view
        return PoolInfo(size, "executor", queue.qsize(), len(threads) >= size)

    def _thread_view(self) -> tuple[str, tuple[int, Any, Any] | None]:
        """This thread's name and what its pool exposes, looked up once per thread."""
        try:
            view: tuple[str, tuple[int, Any, Any] | None] = self._local.view
        except AttributeError:
            view = self._local.view = (threading.current_thread().name, self._pool_view())
        return view

    def _pool_view(self) -> tuple[int, Any, Any] | None:
        """What this thread's pool exposes: size, queue, threads.

        The executor itself is not kept, so a pool shut down and collected is not held alive
        by its former threads.
        """
        executor = _executor_of_current_thread()
        queue = getattr(executor, "_work_queue", None)
        threads = getattr(executor, "_threads", None)
        if executor is None or queue is None or threads is None:
            return None
        return getattr(executor, "_max_workers", self._fallback[0]), queue, threads

    def enter_sync(self) -> InvocationStart:
        """Count a sync invocation in; decide whether it met a saturated pool.

        Saturated: the pool holds more sync work than it has threads, so some of it waits.
        The work is the invocations running (this one included) plus what is queued; each
        thread not running an invocation takes queued work at once (one just started or
        just finished is about to), so only the excess waits: ``running + queued > size``.
        These are the figures the request row and the warning report, so they always agree.
        When the pool cannot be seen, all its threads busy with invocations is the best
        evidence.
        """
        try:
            thread_name, view = self._local.view
        except AttributeError:
            thread_name, view = self._thread_view()
        ticket = next(self._tickets)
        running = self._running_sync
        running.add(ticket)
        sync = len(running)
        asyn = len(self._running_async)
        self._last_view = view
        if view is None:
            size, source, queued, grown = self._fallback_pool
            saturated = sync >= size
        else:
            size, queue, threads = view
            source = "executor"
            queued = queue.qsize()
            grown = len(threads) >= size
            saturated = sync + queued > size
        if saturated or sync > self._peak_sync or sync + asyn > self._peak_total:
            self._note_sync(sync, asyn, saturated)
        return InvocationStart(
            sync, asyn, size, source, queued, grown, saturated, thread_name, ticket
        )

    def _note_sync(self, sync: int, asyn: int, saturated: bool) -> None:
        with self._lock:
            self._peak_sync = max(self._peak_sync, sync)
            self._peak_total = max(self._peak_total, sync + asyn)
            if saturated:
                self._saturated += 1

    def exit_sync(self, start: InvocationStart) -> None:
        """Count out the sync invocation :meth:`enter_sync` returned ``start`` for."""
        self._running_sync.discard(start.ticket)

    def enter_async(self) -> InvocationStart:
        """Count an async invocation in (it runs on the event loop, not the pool)."""
        ticket = next(self._tickets)
        running = self._running_async
        running.add(ticket)
        asyn = len(running)
        sync = len(self._running_sync)
        if asyn > self._peak_async or sync + asyn > self._peak_total:
            with self._lock:
                self._peak_async = max(self._peak_async, asyn)
                self._peak_total = max(self._peak_total, sync + asyn)
        try:
            thread_name = self._local.view[0]
        except AttributeError:
            thread_name = self._thread_view()[0]
        size, source, queued, grown = self._view_info(self._last_view)
        return InvocationStart(sync, asyn, size, source, queued, grown, False, thread_name, ticket)

    def exit_async(self, start: InvocationStart) -> None:
        """Count out the async invocation :meth:`enter_async` returned ``start`` for."""
        self._running_async.discard(start.ticket)

    def snapshot(self, *, reset: bool = True) -> TrackerSnapshot:
        """Counters for the interval that ends now; peaks restart from the current counts."""
        with self._lock:
            # Taking a ticket marks the interval's end; it is never handed to an invocation.
            boundary = next(self._tickets)
            sync = len(self._running_sync)
            asyn = len(self._running_async)
            pool = self._view_info(self._last_view)
            snap = TrackerSnapshot(
                inflight_sync=sync,
                inflight_async=asyn,
                peak_sync=max(self._peak_sync, sync),
                peak_async=max(self._peak_async, asyn),
                peak_total=max(self._peak_total, sync + asyn),
                invocations=boundary - self._interval_first_ticket - self._snapshots_since,
                saturated_invocations=self._saturated,
                pool_size=pool.size,
                pool_source=pool.source,
            )
            if reset:
                self._peak_sync = sync
                self._peak_async = asyn
                self._peak_total = sync + asyn
                self._interval_first_ticket = boundary + 1
                self._saturated = 0
                self._snapshots_since = 0
            else:
                self._snapshots_since += 1
        return snap
