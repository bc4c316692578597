"""One invocation's lifetime: begin (context, counters), end (request and exception items).

Shared by the sync and async wrappers so both time, count and report exactly alike. Everything
here runs on the invocation's own thread or task, so it stays a handful of cheap operations; the
properties are turned into an envelope later, on the export thread.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Mapping
from typing import Any

from . import runtime
from .concurrency import InvocationStart
from .context import InvocationContext, activate, deactivate, remember_worker_storage
from .diagnostics import RateLimitedWarning
from .ids import new_span_id, new_trace_id, parse_traceparent
from .items import ExceptionItem, RequestItem

__all__ = ["DISPATCH_ATTRIBUTE", "Invocation", "mark_dispatched", "running_invocations"]

#: Attribute a dispatcher may set on the ``Context`` (``time.perf_counter_ns()`` at submit) so
#: the time spent waiting for a pool thread can be measured; see :func:`mark_dispatched`.
DISPATCH_ATTRIBUTE = "azfunc_dispatched_ns"

_cold_start = itertools.count()
_saturation_warning = RateLimitedWarning(60.0)
#: Invocations running now, with their monotonic start, for the timeout watchdog.
_running: dict[str, tuple[float, InvocationContext]] = {}


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


def running_invocations() -> list[tuple[float, InvocationContext]]:
    """``(monotonic start, context)`` of every invocation running now."""
    return list(_running.values())


def _trace_parent(function_context: Any) -> str | None:
    trace_context = getattr(function_context, "trace_context", None)
    if trace_context is None:
        return None
    value = getattr(trace_context, "trace_parent", None) or getattr(
        trace_context, "Traceparent", None
    )
    return value if isinstance(value, str) else None


def _retry_count(function_context: Any) -> int | None:
    retry = getattr(function_context, "retry_context", None)
    count = getattr(retry, "retry_count", None) if retry is not None else None
    return count if isinstance(count, int) else None


class Invocation:
    """The state one invocation carries from :meth:`begin` to :meth:`end`."""

    __slots__ = (
        "_cold",
        "_mode",
        "_start",
        "_start_ns",
        "_start_wall",
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
        runtime.ensure_setup()
        self.function_context = function_context
        self._mode = mode
        self.trigger = trigger
        self.url = url
        invocation_id = getattr(function_context, "invocation_id", None)
        if not isinstance(invocation_id, str) or not invocation_id:
            import uuid

            invocation_id = str(uuid.uuid4())
        name = getattr(function_context, "function_name", None)
        if not isinstance(name, str) or not name:
            name = function_name
        parent = parse_traceparent(_trace_parent(function_context))
        operation_id, host_parent = parent if parent else (new_trace_id(), None)
        request_id = new_span_id()
        self.context = InvocationContext(
            invocation_id, name, operation_id, request_id, request_id, host_parent
        )
        remember_worker_storage(getattr(function_context, "thread_local_storage", None))
        self._cold = next(_cold_start) == 0
        self._waited_ms: float | None = None
        self._token: contextvars.Token[InvocationContext | None] | None = None
        self._start: InvocationStart | None = None
        self._start_wall = 0.0
        self._start_ns = 0

    def begin(self) -> None:
        """Count the invocation in, make its context current, start the clock."""
        tracker = runtime.tracker()
        now_ns = time.perf_counter_ns()
        if self._mode == "sync":
            dispatched = getattr(self.function_context, DISPATCH_ATTRIBUTE, None)
            if isinstance(dispatched, int):
                self._waited_ms = max(0.0, (now_ns - dispatched) / 1e6)
            self._start = tracker.enter_sync()
            if self._start.saturated:
                self._warn_saturated(self._start)
        else:
            self._start = tracker.enter_async()
        self._token = activate(self.context)
        _running[self.context.invocation_id] = (time.monotonic(), self.context)
        self._start_wall = time.time()
        self._start_ns = time.perf_counter_ns()

    def end(self, *, result: Any = None, error: BaseException | None = None) -> None:
        """Stop the clock, count the invocation out, queue its request (and exception)."""
        duration_ns = time.perf_counter_ns() - self._start_ns
        context = self.context
        tracker = runtime.tracker()
        if self._mode == "sync":
            tracker.exit_sync()
        else:
            tracker.exit_async()
        _running.pop(context.invocation_id, None)
        if self._token is not None:
            deactivate(context, self._token)
        active = runtime.get_runtime()
        if active is None or active.pipeline is None:
            return
        status = _response_code(result, error, self.trigger)
        item = RequestItem(
            context=context,
            start_time=self._start_wall,
            duration_ns=duration_ns,
            success=error is None and not status.startswith("5"),
            response_code=status,
            url=self.url,
            properties=self._properties(),
        )
        active.pipeline.submit(item)
        if error is not None:
            active.pipeline.submit(
                ExceptionItem(
                    error,
                    context._replace(parent_id=context.request_id),
                    time.time(),
                    {"execution_mode": self._mode, "handled": "false"},
                )
            )

    def _properties(self) -> Mapping[str, object]:
        start = self._start
        assert start is not None
        properties: dict[str, object] = {
            "invocation_id": self.context.invocation_id,
            "function_name": self.context.function_name,
            "cold_start": self._cold,
            "execution_mode": self._mode,
            "thread_name": threading.current_thread().name,
            "inflight_sync_at_start": start.inflight_sync,
            "inflight_async_at_start": start.inflight_async,
            "pool_size": start.pool.size,
            "pool_size_source": start.pool.source,
            "pool_saturated": start.saturated,
        }
        if self._mode == "sync":
            if start.pool.queued is not None:
                properties["pool_queue_depth"] = start.pool.queued
            if self._waited_ms is not None:
                properties["pool_wait_ms"] = round(self._waited_ms, 3)
                properties["pool_wait_source"] = "dispatcher"
            else:
                properties["pool_wait_source"] = "unavailable"
        retry = _retry_count(self.function_context)
        if retry is not None:
            properties["retry_count"] = retry
        if self.trigger:
            properties["trigger_type"] = self.trigger
        return properties

    def _warn_saturated(self, start: InvocationStart) -> None:
        _saturation_warning.warn(
            "The worker's thread pool is saturated: %d sync invocations are running on a pool "
            "of %d threads (%s)%s. Sync functions that block on I/O queue up behind each other. "
            "Make the function `async def`, raise PYTHON_THREADPOOL_THREAD_COUNT, or add worker "
            "processes with FUNCTIONS_WORKER_PROCESS_COUNT.",
            start.inflight_sync,
            start.pool.size,
            start.pool.source,
            f" and {start.pool.queued} more are waiting" if start.pool.queued else "",
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
