"""One invocation's lifetime: :func:`begin` (context, counters), :func:`end` (request items).

Shared by the sync and async wrappers so both time, count and report exactly alike. This is the
part of the library every invocation pays for, so it is two plain functions passing a tuple
rather than an object with methods, reads each ``Context`` property once, and leaves everything
that can wait (response codes, dimensions, envelopes) to the export thread.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from . import runtime
from .concurrency import InvocationStart
from .context import InvocationContext, activate, deactivate, remember_worker_storage
from .diagnostics import RateLimitedWarning
from .ids import new_span_id, new_trace_id, parse_traceparent
from .items import ExceptionItem, RequestItem

__all__ = ["DISPATCH_ATTRIBUTE", "OpenInvocation", "begin", "end", "mark_dispatched"]

#: Attribute a dispatcher may set on the ``Context`` (``time.perf_counter_ns()`` at submit) so
#: the time spent waiting for a pool thread can be measured; see :func:`mark_dispatched`.
DISPATCH_ATTRIBUTE = "azfunc_dispatched_ns"

#: What :func:`begin` hands to :func:`end`: context, context-variable token, tracker start,
#: pool wait (ms), cold start, mode, trigger, url, retry context, ``perf_counter_ns`` at start.
OpenInvocation = tuple[
    InvocationContext,
    Any,
    InvocationStart,
    "float | None",
    bool,
    str,
    "str | None",
    "str | None",
    Any,
    int,
]

_cold_start = itertools.count()
_new = tuple.__new__
_perf_counter_ns = time.perf_counter_ns
_time = time.time
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


def begin(
    function_context: Any,
    function_name: str,
    mode: str,
    trigger: str | None,
    url: str | None = None,
) -> OpenInvocation:
    """Start one invocation: make its context current here, count it in, start its clock.

    ``function_context`` is the worker's ``Context`` (``None`` when there is none: a fresh
    invocation id and trace are made up). Pair every call with :func:`end` in the same thread
    or task.
    """
    if runtime._runtime is None:
        runtime.ensure_setup()
    invocation_id = getattr(function_context, "invocation_id", None)
    if not invocation_id or type(invocation_id) is not str:
        import uuid

        invocation_id = str(uuid.uuid4())
    name = getattr(function_context, "function_name", None)
    if not name or type(name) is not str:
        name = function_name
    trace_context = getattr(function_context, "trace_context", None)
    parent = parse_traceparent(
        getattr(trace_context, "trace_parent", None) if trace_context is not None else None
    )
    operation_id, host_parent = parent if parent else (new_trace_id(), None)
    request_id = new_span_id()
    # tuple.__new__ skips the named tuple's Python-level constructor: half the cost.
    context = _new(
        InvocationContext,
        (invocation_id, name, operation_id, request_id, request_id, host_parent),
    )
    storage = getattr(function_context, "thread_local_storage", None)
    if storage is not None and storage is not _last_storage[0]:
        remember_worker_storage(storage)
        _last_storage[0] = storage
    now_ns = _perf_counter_ns()
    waited_ms: float | None = None
    if mode == "sync":
        attributes = getattr(function_context, "__dict__", None)
        dispatched = attributes.get(DISPATCH_ATTRIBUTE) if attributes else None
        if type(dispatched) is int:
            waited_ms = max(0.0, (now_ns - dispatched) / 1e6)
        start = _TRACKER.enter_sync()
        if start.saturated:
            _warn_saturated(start)
    else:
        start = _TRACKER.enter_async()
    retry = getattr(function_context, "retry_context", None)
    token = activate(context, now_ns)
    return (
        context,
        token,
        start,
        waited_ms,
        next(_cold_start) == 0,
        mode,
        trigger,
        url,
        retry,
        _perf_counter_ns(),
    )


def end(opened: OpenInvocation, result: Any = None, error: BaseException | None = None) -> None:
    """Stop the clock, count the invocation out, queue its request (and exception) items."""
    duration_ns = _perf_counter_ns() - opened[9]
    context, token, start, waited_ms, cold, mode, trigger, url, retry, _ = opened
    if mode == "sync":
        _TRACKER.exit_sync(start)
    else:
        _TRACKER.exit_async(start)
    deactivate(context, token)
    active = runtime._runtime
    if active is None or active.pipeline is None:
        return
    status = getattr(result, "status_code", None) if result is not None else None
    submit = active.pipeline.submit
    submit(
        _new(
            RequestItem,
            (
                context,
                _time() - duration_ns / 1e9,
                duration_ns,
                status if type(status) is int else None,
                error is not None,
                url,
                cold,
                mode,
                start,
                waited_ms,
                retry,
                trigger,
            ),
        )
    )
    if error is not None:
        submit(ExceptionItem(error, context, _time(), {"execution_mode": mode, "handled": "false"}))


def _warn_saturated(start: InvocationStart) -> None:
    from .concurrency import saturation_summary  # the rare path: at most once a minute

    _saturation_warning.warn(
        "%s Sync functions that block on I/O queue up behind each other. Make the function "
        "`async def`, raise PYTHON_THREADPOOL_THREAD_COUNT, or add worker processes with "
        "FUNCTIONS_WORKER_PROCESS_COUNT.",
        saturation_summary(start),
    )
