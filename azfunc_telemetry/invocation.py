"""One invocation's lifetime: begin (context, counters), end (request and exception items).

Shared by the sync and async wrappers so both time, count and report exactly alike. Everything
here runs on the invocation's own thread or task, so it stays a handful of cheap operations; the
properties are turned into an envelope later, on the export thread.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from . import runtime
from .concurrency import InvocationStart
from .context import InvocationContext, activate, deactivate, remember_worker_storage
from .diagnostics import RateLimitedWarning
from .ids import new_span_id, new_trace_id, parse_traceparent
from .items import ExceptionItem, RequestFacts, RequestItem

__all__ = ["DISPATCH_ATTRIBUTE", "Invocation", "mark_dispatched"]

#: Attribute a dispatcher may set on the ``Context`` (``time.perf_counter_ns()`` at submit) so
#: the time spent waiting for a pool thread can be measured; see :func:`mark_dispatched`.
DISPATCH_ATTRIBUTE = "azfunc_dispatched_ns"

_cold_start = itertools.count()
_current_thread = threading.current_thread
_new = tuple.__new__
_TRACKER = runtime.tracker()
#: The worker storage seen last; registering it again is skipped (it is one shared object).
_last_storage: list[Any] = [None]
_saturation_warning = RateLimitedWarning(60.0)


def mark_dispatched(context: Any) -> None:
    """Record that ``context``'s invocation was just handed to the thread pool.

    A dispatcher that calls this right before ``executor.submit`` lets the invocation report
    ``pool_wait_ms``, the exact time it waited for a free thread. The Functions worker does not
    call it, so in Azure the wait is reported as unavailable and saturation is judged from the
    pool's own backlog instead.
    """
    try:
        setattr(context, DISPATCH_ATTRIBUTE, time.perf_counter_ns())
    except (AttributeError, TypeError):
        pass


class Invocation:
    """One invocation from start (constructor) to :meth:`end`.

    Constructing it counts the invocation in, makes its context current and starts the clock;
    it is the only per-invocation object the middleware creates.
    """

    __slots__ = (
        "_cold",
        "_mode",
        "_start",
        "_start_ns",
        "_token",
        "_waited_ms",
        "context",
        "function_context",
        "trigger",
        "url",
    )

    def __init__(
        self,
        function_context: Any,
        function_name: str,
        mode: str,
        trigger: str | None,
        url: str | None = None,
    ) -> None:
        if runtime._runtime is None:
            runtime.ensure_setup()
        self.function_context = function_context
        self._mode = mode
        self.trigger = trigger
        self.url = url
        invocation_id = getattr(function_context, "invocation_id", None)
        if not invocation_id or not isinstance(invocation_id, str):
            import uuid

            invocation_id = str(uuid.uuid4())
        name = getattr(function_context, "function_name", None)
        if not name or not isinstance(name, str):
            name = function_name
        trace_context = getattr(function_context, "trace_context", None)
        parent = parse_traceparent(
            getattr(trace_context, "trace_parent", None) if trace_context is not None else None
        )
        operation_id, host_parent = parent if parent else (new_trace_id(), None)
        request_id = new_span_id()
        # tuple.__new__ skips the named tuple's Python-level constructor: half the cost.
        context = self.context = _new(
            InvocationContext,
            (invocation_id, name, operation_id, request_id, request_id, host_parent),
        )
        storage = getattr(function_context, "thread_local_storage", None)
        if storage is not None and storage is not _last_storage[0]:
            remember_worker_storage(storage)
            _last_storage[0] = storage
        self._cold = next(_cold_start) == 0
        now_ns = time.perf_counter_ns()
        self._waited_ms: float | None = None
        tracker = _TRACKER
        if mode == "sync":
            attributes = getattr(function_context, "__dict__", None)
            dispatched = attributes.get(DISPATCH_ATTRIBUTE) if attributes else None
            if isinstance(dispatched, int):
                self._waited_ms = max(0.0, (now_ns - dispatched) / 1e6)
            start = tracker.enter_sync()
            if start.saturated:
                _warn_saturated(start)
        else:
            start = tracker.enter_async()
        self._start = start
        self._token = activate(context, now_ns)
        self._start_ns = time.perf_counter_ns()

    def end(self, result: Any = None, error: BaseException | None = None) -> None:
        """Stop the clock, count the invocation out, queue its request (and exception)."""
        duration_ns = time.perf_counter_ns() - self._start_ns
        context = self.context
        if self._mode == "sync":
            _TRACKER.exit_sync()
        else:
            _TRACKER.exit_async()
        deactivate(context, self._token)
        active = runtime._runtime
        if active is None or active.pipeline is None:
            return
        status = _response_code(result, error, self.trigger)
        submit = active.pipeline.submit
        retry = getattr(self.function_context, "retry_context", None)
        retry_count = getattr(retry, "retry_count", None) if retry is not None else None
        facts = (
            self._cold,
            self._mode,
            _current_thread().name,
            self._start,
            self._waited_ms,
            retry_count if type(retry_count) is int else None,
            self.trigger,
        )
        submit(
            _new(
                RequestItem,
                (
                    context,
                    time.time() - duration_ns / 1e9,
                    duration_ns,
                    error is None and status[0] != "5",
                    status,
                    self.url,
                    _new(RequestFacts, facts),
                ),
            )
        )
        if error is not None:
            submit(
                ExceptionItem(
                    error, context, time.time(), {"execution_mode": self._mode, "handled": "false"}
                )
            )


def _warn_saturated(start: InvocationStart) -> None:
    pool = start.pool
    _saturation_warning.warn(
        "The worker's thread pool is saturated: %d sync invocations are running on a pool "
        "of %d threads (%s)%s. Sync functions that block on I/O queue up behind each other. "
        "Make the function `async def`, raise PYTHON_THREADPOOL_THREAD_COUNT, or add worker "
        "processes with FUNCTIONS_WORKER_PROCESS_COUNT.",
        start.inflight_sync,
        pool.size,
        pool.source,
        f" and {pool.queued} more are waiting" if pool.queued else "",
    )


def _response_code(result: Any, error: BaseException | None, trigger: str | None) -> str:
    """The HTTP status for HTTP triggers; ``0``/``1`` (success/failure) for the others."""
    if trigger == "httpTrigger":
        if error is not None:
            return "500"
        status = getattr(result, "status_code", None)
        return str(status) if isinstance(status, int) else "200"
    status = getattr(result, "status_code", None)
    if error is None and isinstance(status, int):
        return str(status)
    return "1" if error is not None else "0"
