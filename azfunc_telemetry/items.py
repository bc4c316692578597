"""What the hot path queues: raw facts, cheap to create, turned into envelopes later.

A log record travels as a plain ``(LogRecord, InvocationContext | None, message)`` tuple, the
cheapest thing to build in ``emit()``. The other kinds are small named tuples. Formatting,
scrubbing and serialisation all happen on the export thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple, TypeAlias

from .concurrency import InvocationStart
from .context import InvocationContext

__all__ = [
    "DependencyItem",
    "ExceptionItem",
    "LogItem",
    "MetricItem",
    "QueueItem",
    "RequestFacts",
    "RequestItem",
    "request_properties",
]

LogItem: TypeAlias = "tuple[logging.LogRecord, InvocationContext | None, str]"


class RequestFacts(NamedTuple):
    """What the middleware observed about an invocation, turned into dimensions later."""

    cold_start: bool
    execution_mode: str
    thread_name: str
    start: InvocationStart | None
    waited_ms: float | None
    retry_count: int | None
    trigger: str | None


class RequestItem(NamedTuple):
    """One finished invocation, becoming a ``requests`` row."""

    context: InvocationContext
    start_time: float
    duration_ns: int
    success: bool
    response_code: str
    url: str | None
    facts: RequestFacts


def request_properties(item: RequestItem) -> dict[str, object]:
    """The ``requests`` row's custom dimensions (documented in the README)."""
    facts = item.facts
    properties: dict[str, object] = {
        "invocation_id": item.context.invocation_id,
        "function_name": item.context.function_name,
        "cold_start": facts.cold_start,
        "execution_mode": facts.execution_mode,
        "thread_name": facts.thread_name,
    }
    start = facts.start
    if start is not None:
        properties["inflight_sync_at_start"] = start.inflight_sync
        properties["inflight_async_at_start"] = start.inflight_async
        properties["pool_size"] = start.pool.size
        properties["pool_size_source"] = start.pool.source
        properties["pool_saturated"] = start.saturated
        if facts.execution_mode == "sync":
            if start.pool.queued is not None:
                properties["pool_queue_depth"] = start.pool.queued
            if facts.waited_ms is not None:
                properties["pool_wait_ms"] = round(facts.waited_ms, 3)
                properties["pool_wait_source"] = "dispatcher"
            else:
                properties["pool_wait_source"] = "unavailable"
    if facts.retry_count is not None:
        properties["retry_count"] = facts.retry_count
    if facts.trigger:
        properties["trigger_type"] = facts.trigger
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
