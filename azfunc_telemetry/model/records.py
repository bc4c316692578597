"""What the hot path queues: typed raw facts, cheap to create, turned into wire items later.

Every queued item is one of the records below, and each kind is built in one place: a log
record by :class:`LogItem` (from the handler or the library's own warnings), the others by the
invocation lifecycle, spans and the metrics task. They are backend-neutral: formatting,
scrubbing and serialisation for a destination happen on the export thread, in that backend's
formatter (Application Insights envelopes today).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import NamedTuple, TypeAlias

from .invocation import InvocationContext, InvocationStart
from .scrubbing import safe_str

__all__ = [
    "DependencyItem",
    "ExceptionItem",
    "LogItem",
    "MetricItem",
    "QueueItem",
    "RequestItem",
    "log_message",
    "request_properties",
]


class LogItem:
    """One log record with the invocation it belongs to, becoming a ``traces`` row.

    The message is formatted here, in the caller's thread, because the record's arguments may
    change once the logging call returns. A plain class with slots: it is built for every log
    call, and costs less to build than a named tuple.
    """

    __slots__ = ("context", "message", "record")

    def __init__(self, record: logging.LogRecord, context: InvocationContext | None) -> None:
        self.record = record
        self.context = context
        self.message = log_message(record)


def log_message(record: logging.LogRecord) -> str:
    """The record's message; with arguments that do not fit its format, the raw parts instead.

    A wrong ``%`` format in a log call must not lose the record, so the text says what went
    wrong and keeps what was given.
    """
    try:
        return record.getMessage()
    except Exception:
        args = record.args
        shown = ", ".join(safe_str(a) for a in args) if isinstance(args, tuple) else safe_str(args)
        return f"{safe_str(record.msg)} [unformattable arguments: {shown}]"


class RequestItem(NamedTuple):
    """One finished invocation, becoming a ``requests`` row or an ``InProc`` dependency.

    It holds what the middleware observed, raw: the response code, the outcome and the
    dimensions are derived from it on the export thread, off the invocation's own time.
    """

    context: InvocationContext
    start_time: float
    duration_ns: int
    #: The result's ``status_code`` when it had an integer one (an ``HttpResponse``).
    status_code: int | None
    #: Whether the function raised.
    failed: bool
    url: str | None
    cold_start: bool
    execution_mode: str
    start: InvocationStart
    waited_ms: float | None
    #: The ``Context.retry_context`` (its count is read when the row is built), if any.
    retry: object | None
    trigger: str | None

    @property
    def response_code(self) -> str:
        """The HTTP status for HTTP triggers; ``0``/``1`` (success/failure) for the others."""
        status = self.status_code
        if self.trigger == "httpTrigger":
            if self.failed:
                return "500"
            return str(status) if status is not None else "200"
        if not self.failed and status is not None:
            return str(status)
        return "1" if self.failed else "0"

    @property
    def success(self) -> bool:
        """Not raised and not a 5xx response."""
        return not self.failed and self.response_code[0] != "5"

    @property
    def retry_count(self) -> int | None:
        """How often the host retried this invocation, when its trigger has a retry policy."""
        retry = self.retry
        if retry is None:
            return None
        try:
            count = getattr(retry, "retry_count", None)
        except Exception:
            return None
        return count if type(count) is int else None


def request_properties(item: RequestItem) -> dict[str, object]:
    """The invocation item's custom dimensions (documented in the README).

    ``InvocationId`` is the host's name for the id: it joins the item to the host's own rows
    and, where the host writes no requests, lets the portal open the invocation from ours.
    """
    start = item.start
    properties: dict[str, object] = {
        "invocation_id": item.context.invocation_id,
        "function_name": item.context.function_name,
        "InvocationId": item.context.invocation_id,
        "cold_start": item.cold_start,
        "execution_mode": item.execution_mode,
        "thread_name": start.thread_name,
        # Thread names repeat in every worker process; with the process they name one thread.
        "ProcessId": os.getpid(),
        "inflight_sync_at_start": start.inflight_sync,
        "inflight_async_at_start": start.inflight_async,
        "pool_size": start.pool_size,
        "pool_size_source": start.pool_source,
        "pool_saturated": start.saturated,
    }
    if item.execution_mode == "sync":
        if start.pool_queued is not None:
            properties["pool_queue_depth"] = start.pool_queued
        if item.waited_ms is not None:
            properties["pool_wait_ms"] = round(item.waited_ms, 3)
            properties["pool_wait_source"] = "dispatcher"
        else:
            properties["pool_wait_source"] = "unavailable"
    retry_count = item.retry_count
    if retry_count is not None:
        properties["retry_count"] = retry_count
    if item.trigger:
        properties["trigger_type"] = item.trigger
    return properties


class DependencyItem(NamedTuple):
    """One finished :func:`azfunc_telemetry.span`, becoming a ``dependencies`` row."""

    operation_id: str | None
    parent_id: str | None
    operation_name: str | None
    span_id: str
    name: str
    type: str
    target: str | None
    data: str | None
    start_time: float
    duration_ns: int
    success: bool
    result_code: str
    properties: Mapping[str, object]


class ExceptionItem(NamedTuple):
    """An exception that escaped an invocation or a span, becoming an ``exceptions`` row."""

    exception: BaseException
    context: InvocationContext | None
    time: float
    properties: Mapping[str, object]


class MetricItem(NamedTuple):
    """One aggregated metric value, becoming a ``customMetrics`` row."""

    name: str
    value: float
    time: float
    sample_count: int | None
    minimum: float | None
    maximum: float | None
    properties: Mapping[str, object]


QueueItem: TypeAlias = "LogItem | RequestItem | DependencyItem | ExceptionItem | MetricItem"
