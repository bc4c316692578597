"""How busy the worker is: in-flight invocations, the thread pool's real size, saturation.

Sync functions run on the worker's ``ThreadPoolExecutor``; when every thread is busy, new
invocations queue and the app slows down without any error. The tracker counts invocations as
the wrapper enters and leaves them (so the counts are never above the truth), finds the pool the
current thread belongs to, and reads its real size and backlog from it.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

__all__ = [
    "ConcurrencyTracker",
    "InvocationStart",
    "PoolInfo",
    "TrackerSnapshot",
    "pool_size_fallback",
]

ENV_THREAD_COUNT = "PYTHON_THREADPOOL_THREAD_COUNT"
HOST_DEFAULT_THREAD_COUNT = 1000
#: Builds named tuples on the hot path without their Python-level constructor.
_new = tuple.__new__


class PoolInfo(NamedTuple):
    """The size of the pool sync invocations run on, where it came from, and its state.

    ``queued`` is the work waiting for a thread and ``grown`` whether the pool has started all
    its threads (``None`` for both when the pool itself cannot be seen).
    """

    size: int
    source: str
    queued: int | None
    grown: bool | None = None


class InvocationStart(NamedTuple):
    """What the tracker saw when an invocation began."""

    inflight_sync: int
    inflight_async: int
    pool: PoolInfo
    saturated: bool


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
    """Process-wide invocation counters, safe under any mix of threads and tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync = 0
        self._async = 0
        self._peak_sync = 0
        self._peak_async = 0
        self._peak_total = 0
        self._invocations = 0
        self._saturated = 0
        self._local = threading.local()
        self._fallback = pool_size_fallback()
        self._fallback_pool = PoolInfo(self._fallback[0], self._fallback[1], None)
        self._last_pool = self._fallback_pool

    def pool_info(self) -> PoolInfo:
        """The pool serving this thread, measured when this thread belongs to one."""
        try:
            view = self._local.pool
        except AttributeError:
            view = self._local.pool = self._pool_view()
        if view is None:
            return self._fallback_pool
        size, queue, threads = view
        return _new(PoolInfo, (size, "executor", queue.qsize(), len(threads) >= size))

    def _pool_view(self) -> tuple[int, Any, Any] | None:
        """What this thread's pool exposes, looked up once per thread: size, queue, threads.

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
        """Count a sync invocation in; decide whether it met a saturated pool."""
        pool = self.pool_info()
        with self._lock:
            sync = self._sync = self._sync + 1
            asyn = self._async
            self._invocations += 1
            if sync > self._peak_sync:
                self._peak_sync = sync
            if sync + asyn > self._peak_total:
                self._peak_total = sync + asyn
            # Saturated: work waits and no thread can take it (all threads started, a
            # backlog). A pool still starting threads queues work for a moment with nobody
            # waiting on a busy thread, so a backlog alone is not saturation. When the pool
            # cannot be seen, all its threads busy with invocations is the best evidence.
            if pool.queued is None:
                saturated = sync >= pool.size
            else:
                saturated = pool.queued > 0 and bool(pool.grown)
            if saturated:
                self._saturated += 1
            self._last_pool = pool
        return _new(InvocationStart, (sync, asyn, pool, saturated))

    def exit_sync(self) -> None:
        """Count a sync invocation out."""
        with self._lock:
            self._sync -= 1

    def enter_async(self) -> InvocationStart:
        """Count an async invocation in (it runs on the event loop, not the pool)."""
        with self._lock:
            asyn = self._async = self._async + 1
            sync = self._sync
            self._invocations += 1
            if asyn > self._peak_async:
                self._peak_async = asyn
            if sync + asyn > self._peak_total:
                self._peak_total = sync + asyn
            pool = self._last_pool
        return _new(InvocationStart, (sync, asyn, pool, False))

    def exit_async(self) -> None:
        """Count an async invocation out."""
        with self._lock:
            self._async -= 1

    def snapshot(self, *, reset: bool = True) -> TrackerSnapshot:
        """Counters for the interval that ends now; peaks restart from the current counts."""
        with self._lock:
            snap = TrackerSnapshot(
                inflight_sync=self._sync,
                inflight_async=self._async,
                peak_sync=self._peak_sync,
                peak_async=self._peak_async,
                peak_total=self._peak_total,
                invocations=self._invocations,
                saturated_invocations=self._saturated,
                pool_size=self._last_pool.size,
                pool_source=self._last_pool.source,
            )
            if reset:
                self._peak_sync = self._sync
                self._peak_async = self._async
                self._peak_total = self._sync + self._async
                self._invocations = 0
                self._saturated = 0
        return snap
