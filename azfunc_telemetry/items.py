"""What the hot path queues: raw facts, cheap to create, turned into envelopes later.

A log record travels as a plain ``(LogRecord, InvocationContext | None, message)`` tuple, the cheapest
thing to build in ``emit()``. The other kinds are small named tuples. Formatting, scrubbing and
serialisation all happen on the export thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple, TypeAlias

from .context import InvocationContext

__all__ = ["DependencyItem", "ExceptionItem", "LogItem", "MetricItem", "QueueItem", "RequestItem"]

LogItem: TypeAlias = "tuple[logging.LogRecord, InvocationContext | None, str]"


class RequestItem(NamedTuple):
    """One finished invocation, becoming a ``requests`` row."""

    context: InvocationContext
    start_time: float
    duration_ns: int
    success: bool
    response_code: str
    url: str | None
    properties: Mapping[str, object]


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
    count: int | None
    minimum: float | None
    maximum: float | None
    properties: Mapping[str, object]


QueueItem: TypeAlias = "LogItem | RequestItem | DependencyItem | ExceptionItem | MetricItem"
