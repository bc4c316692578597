"""One invocation's lifetime: :func:`begin` (context, counters), :func:`end` (request items).

Shared by the sync and async wrappers so both time, count and report exactly alike. This is the
part of the library every invocation pays for, so it is two plain functions passing one small
record, reads each ``Context`` property once, and leaves everything that can wait (response
codes, dimensions, envelopes) to the export thread.

The lifecycle imports nothing above it: the runtime hands it what it reports to (the pipeline's
``submit`` and the concurrency tracker) through :func:`connect` whenever it builds a pipeline, and
the way to run ``setup()`` on first use through :func:`on_first_invocation`.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Callable
from typing import Any

from ..capture.context import InvocationContext, activate, deactivate, remember_worker_storage
from ..capture.ids import new_span_id, new_trace_id, parse_traceparent
from ..diagnostics import RateLimitedWarning
from ..model.records import ExceptionItem, QueueItem, RequestItem
from .concurrency import ConcurrencyTracker, InvocationStart

__all__ = [
    "DISPATCH_ATTRIBUTE",
    "OpenInvocation",
    "Reporting",
    "begin",
    "connect",
    "end",
    "mark_dispatched",
    "on_first_invocation",
]

#: Attribute a dispatcher may set on the ``Context`` (``time.perf_counter_ns()`` at submit) so
#: the time spent waiting for a pool thread can be measured; see :func:`mark_dispatched`.
DISPATCH_ATTRIBUTE = "azfunc_dispatched_ns"


class OpenInvocation:
    """What :func:`begin` hands to :func:`end` for one invocation.

    A class with ``__slots__`` rather than a named tuple: it is built and read on every
    invocation, and measured cheaper both ways (about 230 ns to build and 70 ns to read every
    field, against 350 ns and 90 ns for a ten-field named tuple).
    """

    __slots__ = (
        "cold_start",
        "context",
        "mode",
        "retry",
        "start",
        "started_ns",
        "token",
        "tracker",
        "trigger",
        "url",
        "waited_ms",
    )

    def __init__(
        self,
        context: InvocationContext,
        token: contextvars.Token[InvocationContext | None],
        start: InvocationStart,
        waited_ms: float | None,
        cold_start: bool,
        mode: str,
        trigger: str | None,
        url: str | None,
        retry: Any,
        tracker: ConcurrencyTracker,
        started_ns: int,
    ) -> None:
        #: The invocation's telemetry context, current while it runs.
        self.context = context
        #: The context-variable token that makes the previous context current again.
        self.token = token
        #: What the concurrency tracker saw when the invocation began.
        self.start = start
        #: Time spent waiting for a pool thread, when a dispatcher marked the hand-over.
        self.waited_ms = waited_ms
        self.cold_start = cold_start
        #: ``"sync"`` or ``"async"``.
        self.mode = mode
        self.trigger = trigger
        self.url = url
        #: The ``Context.retry_context``, read on the export thread.
        self.retry = retry
        #: The tracker that counted the invocation in, and counts it out.
        self.tracker = tracker
        #: ``perf_counter_ns`` when the function was about to be called.
        self.started_ns = started_ns


class Reporting:
    """What the lifecycle reports to, handed down by the runtime when it builds a pipeline."""

    __slots__ = ("submit", "tracker")

    def __init__(
        self, submit: Callable[[QueueItem], None] | None, tracker: ConcurrencyTracker
    ) -> None:
        #: The pipeline's ``submit``, or ``None`` when export is off.
        self.submit = submit
        self.tracker = tracker


_cold_start = itertools.count()
_perf_counter_ns = time.perf_counter_ns
_time = time.time
#: Set by :func:`connect`; ``None`` until the runtime is set up (and again after shutdown).
_reporting: Reporting | None = None
#: Runs ``setup()`` when an invocation begins before the runtime was set up.
_first_invocation: Callable[[], object] | None = None
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


def connect(reporting: Reporting | None) -> None:
    """Report invocations to ``reporting`` from now on (``None``: set up again on next use)."""
    global _reporting
    _reporting = reporting


def on_first_invocation(setup: Callable[[], object]) -> None:
    """Call ``setup`` when an invocation begins and nothing was connected yet."""
    global _first_invocation
    _first_invocation = setup


def _connected() -> Reporting:
    """The reporting in force, running the first-use setup when there is none yet."""
    if _first_invocation is not None:
        _first_invocation()
    if _reporting is None:
        raise RuntimeError("azfunc_telemetry is not set up: no pipeline to report invocations to")
    return _reporting


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
    reporting = _reporting
    if reporting is None:
        reporting = _connected()
    tracker = reporting.tracker
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
    context = InvocationContext(
        invocation_id, name, operation_id, request_id, request_id, host_parent
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
        start = tracker.enter_sync()
        if start.saturated:
            _warn_saturated(start)
    else:
        start = tracker.enter_async()
    retry = getattr(function_context, "retry_context", None)
    token = activate(context, now_ns)
    return OpenInvocation(
        context,
        token,
        start,
        waited_ms,
        next(_cold_start) == 0,
        mode,
        trigger,
        url,
        retry,
        tracker,
        _perf_counter_ns(),
    )


def end(opened: OpenInvocation, result: Any = None, error: BaseException | None = None) -> None:
    """Stop the clock, count the invocation out, queue its request (and exception) items."""
    duration_ns = _perf_counter_ns() - opened.started_ns
    context = opened.context
    mode = opened.mode
    if mode == "sync":
        opened.tracker.exit_sync(opened.start)
    else:
        opened.tracker.exit_async(opened.start)
    deactivate(context, opened.token)
    reporting = _reporting
    submit = reporting.submit if reporting is not None else None
    if submit is None:
        return
    status = getattr(result, "status_code", None) if result is not None else None
    submit(
        RequestItem(
            context,
            _time() - duration_ns / 1e9,
            duration_ns,
            status if type(status) is int else None,
            error is not None,
            opened.url,
            opened.cold_start,
            mode,
            opened.start,
            opened.waited_ms,
            opened.retry,
            opened.trigger,
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
