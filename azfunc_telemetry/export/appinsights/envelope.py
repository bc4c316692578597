"""Turning queued items into Application Insights envelopes (pure: no I/O, no globals).

The envelopes have exactly the schema of opencensus-ext-azure's protocol types (``Envelope``,
``Data``, ``Message``, ``ExceptionData``, ``Request``, ``RemoteDependency``, ``MetricData``),
built as plain dicts because constructing those types costs about 12 µs an item on the export
thread, a quarter of the throughput budget. A test keeps the two shapes identical.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import traceback
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from ..._version import __version__
from ...model.dimensions import LogDimensions, host_dimensions, record_properties, remember
from ...model.invocation import InvocationContext
from ...model.records import (
    DependencyItem,
    ExceptionItem,
    LogItem,
    MetricItem,
    QueueItem,
    RequestItem,
    request_properties,
)
from ...model.scrubbing import (
    MAX_ITEM_BYTES,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_URL,
    Scrubber,
    safe_str,
    truncate,
)

__all__ = [
    "INVOCATION_DEPENDENCY_TYPE",
    "EnvelopeBuilder",
    "format_duration",
    "format_time",
    "severity_level",
]

Envelope = dict[str, Any]

_MAX_CHAINED = 5
#: Room left under the service's item limit for what the size estimate does not see.
_ITEM_BUDGET = MAX_ITEM_BYTES - 512
#: The most bytes one character takes in ASCII-escaped JSON (an astral one: two \\u escapes).
_MAX_ESCAPED_CHAR_BYTES = 12
_MESSAGE_NAME = "Microsoft.ApplicationInsights.Message"
#: The ``dependencies.type`` of an invocation reported under the host's request.
INVOCATION_DEPENDENCY_TYPE = "InProc"


def severity_level(levelno: int) -> int:
    """Python level -> the service's 0-4 severity (opencensus can send an invalid 5)."""
    if levelno >= logging.CRITICAL:
        return 4
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 2
    if levelno >= logging.INFO:
        return 1
    return 0


#: The last whole second formatted, with its text: records come in bursts within one second.
_last_second: tuple[int | None, str] = (None, "")


def format_time(epoch_s: float) -> str:
    """UTC ISO-8601 with microseconds and ``Z``, the form the service expects.

    Rounds exactly as ``datetime.fromtimestamp`` does (half to even on the microsecond), but
    formats the date and time of day only once per second: ``strftime`` was about a fifth
    of the cost of building a log envelope.
    """
    global _last_second
    second = int(epoch_s)  # toward zero, so the fraction below is exact, as math.modf's
    micros = round((epoch_s - second) * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        second += 1
    elif micros < 0:
        micros += 1_000_000
        second -= 1
    cached = _last_second
    if cached[0] != second:
        text = datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        cached = _last_second = (second, text)
    return f"{cached[1]}{str(micros).zfill(6)}Z"  # zfill: half the cost of a format spec


def format_duration(duration_ns: int) -> str:
    """``d.hh:mm:ss.ffffff``, the service's timespan format."""
    total_us = max(0, duration_ns) // 1000
    seconds, micros = divmod(total_us, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}.{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}"


class EnvelopeBuilder:
    """Builds envelopes for one destination (instrumentation key) and one process."""

    def __init__(
        self,
        instrumentation_key: str,
        *,
        cloud_role: str,
        cloud_role_instance: str,
        scrubber: Scrubber | None = None,
        invocation_telemetry: str = "request",
    ) -> None:
        self._ikey = instrumentation_key
        #: ``request`` or ``dependency``: the item each finished invocation becomes.
        self._invocation_as_dependency = invocation_telemetry == "dependency"
        self._scrubber = scrubber or Scrubber()
        self._base_tags = {
            "ai.cloud.role": cloud_role,
            "ai.cloud.roleInstance": cloud_role_instance,
            "ai.device.type": "Other",
            "ai.internal.sdkVersion": f"py{platform.python_version()}:azfunc{__version__}",
        }
        self._log_dimensions = LogDimensions(self._scrubber)
        # Tags repeat for every item of an operation. The memo's dicts are never handed out,
        # only copies, so an envelope changed later (cut to size, say) cannot change another.
        self._tag_memo: dict[tuple[object, ...], dict[str, str]] = {}

    def build(self, item: QueueItem) -> Envelope | None:
        """One envelope for one queued item; ``None`` for an item that cannot be represented."""
        if type(item) is LogItem:
            return self.log(item.record, item.context, item.message)
        if isinstance(item, RequestItem):
            return self.invocation(item)
        if isinstance(item, DependencyItem):
            return self.dependency(item)
        if isinstance(item, ExceptionItem):
            return self.exception(item)
        if isinstance(item, MetricItem):
            return self.metric(item)
        return None

    # -- envelope kinds -------------------------------------------------------------------

    def log(
        self, record: logging.LogRecord, context: InvocationContext | None, message: str
    ) -> Envelope:
        """A ``traces`` item, or an ``exceptions`` item when the record carries an exception."""
        message = self._scrubber.scrub(message)
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            dimensions = record_properties(record, context)
            dimensions["log_message"] = truncate(message, 8192)
            return self._exception_envelope(
                exc_info[1],
                exc_info[2],
                context,
                record.created,
                dimensions,
                severity_level(record.levelno),
            )
        if record.exc_text and not exc_info:
            # Text of an exception formatted elsewhere. With exc_info present but empty
            # (logger.exception outside an except block) it is only "NoneType: None".
            message = f"{message}\n{self._scrubber.scrub(record.exc_text)}"
        if len(message) > MAX_MESSAGE:
            message = truncate(message, MAX_MESSAGE)
        properties, property_chars = self._log_dimensions.measured(record, context)
        if context is None:
            tags = self._base_tags.copy()
        else:
            tags = self._tags(context.operation_id, context.parent_id, context.function_name)
        envelope: Envelope = {
            "iKey": self._ikey,
            "tags": tags,
            "time": format_time(record.created),
            "name": _MESSAGE_NAME,
            "data": {
                "baseData": {
                    "ver": 2,
                    "message": message,
                    "severityLevel": severity_level(record.levelno),
                    "properties": properties,
                },
                "baseType": "MessageData",
            },
        }
        if (len(message) + property_chars) * _MAX_ESCAPED_CHAR_BYTES < _ITEM_BUDGET:
            # What _fit would find first (_far_below_limit), from the characters counted as
            # the properties were put together instead of counting them again.
            return envelope
        return self._fit(envelope, "message")

    def invocation(self, item: RequestItem) -> Envelope:
        """The item one finished invocation becomes, as configured.

        As a dependency it is a child of the host's request, which needs the host's span from
        ``traceparent``; an invocation that came without one (called outside the host) has no
        host request to hang under and becomes a request.
        """
        if self._invocation_as_dependency and item.context.host_parent_id:
            return self.invocation_dependency(item)
        return self.request(item)

    def invocation_dependency(self, item: RequestItem) -> Envelope:
        """A ``dependencies`` item of type ``InProc`` for one invocation, under the host's request.

        The host's own ``requests`` row spans dispatch and the wait for a thread; this one is
        the worker's execution of the function, and the invocation's logs and spans hang
        under it (their parent is its id).
        """
        context = item.context
        data: dict[str, Any] = {
            "ver": 2,
            "id": context.request_id,
            "name": truncate(context.function_name, MAX_NAME),
            "duration": format_duration(item.duration_ns),
            "resultCode": item.response_code,
            "success": item.success,
            "type": INVOCATION_DEPENDENCY_TYPE,
            "properties": self._scrubber.properties(request_properties(item)),
        }
        if item.url:
            data["data"] = truncate(self._scrubber.scrub(item.url), 8192)
        tags = self._tags(context.operation_id, context.host_parent_id, context.function_name)
        envelope = self._wrap(
            "RemoteDependency", "RemoteDependencyData", item.start_time, tags, data
        )
        return self._fit(envelope, "")

    def request(self, item: RequestItem) -> Envelope:
        """A ``requests`` item for one invocation."""
        context = item.context
        data: dict[str, Any] = {
            "ver": 2,
            "id": context.request_id,
            "name": truncate(context.function_name, MAX_NAME),
            "duration": format_duration(item.duration_ns),
            "responseCode": item.response_code,
            "success": item.success,
            "properties": self._scrubber.properties(request_properties(item)),
        }
        if item.url:
            data["url"] = truncate(self._scrubber.scrub(item.url), MAX_URL)
        tags = self._tags(context.operation_id, context.host_parent_id, context.function_name)
        return self._fit(self._wrap("Request", "RequestData", item.start_time, tags, data), "")

    def dependency(self, item: DependencyItem) -> Envelope:
        """A ``dependencies`` item for one span."""
        data: dict[str, Any] = {
            "ver": 2,
            "id": item.span_id,
            "name": truncate(self._scrubber.scrub(item.name), MAX_NAME),
            "duration": format_duration(item.duration_ns),
            "resultCode": item.result_code,
            "success": item.success,
            "type": truncate(item.type, MAX_NAME),
            "properties": self._scrubber.properties(item.properties),
        }
        if item.target:
            data["target"] = truncate(self._scrubber.scrub(item.target), MAX_NAME)
        if item.data:
            data["data"] = truncate(self._scrubber.scrub(item.data), 8192)
        tags = self._tags(item.operation_id, item.parent_id, item.operation_name)
        envelope = self._wrap(
            "RemoteDependency", "RemoteDependencyData", item.start_time, tags, data
        )
        return self._fit(envelope, "properties")

    def exception(self, item: ExceptionItem) -> Envelope:
        """An ``exceptions`` item for an exception that escaped an invocation or span."""
        properties = dict(item.properties)
        if item.context is not None:
            properties.setdefault("invocation_id", item.context.invocation_id)
            properties.setdefault("function_name", item.context.function_name)
            for name, value in host_dimensions(item.context, logging.ERROR).items():
                properties.setdefault(name, value)
        exc = item.exception
        return self._exception_envelope(
            exc, exc.__traceback__, item.context, item.time, properties, 3
        )

    def metric(self, item: MetricItem) -> Envelope:
        """A ``customMetrics`` item."""
        point: dict[str, Any] = {"name": truncate(item.name, MAX_NAME), "value": item.value}
        if item.sample_count is not None:
            point["count"] = item.sample_count
        if item.minimum is not None:
            point["min"] = item.minimum
        if item.maximum is not None:
            point["max"] = item.maximum
        data = {
            "ver": 2,
            "metrics": [point],
            "properties": self._scrubber.properties(item.properties),
        }
        return self._wrap("Metric", "MetricData", item.time, dict(self._base_tags), data)

    # -- helpers --------------------------------------------------------------------------

    def _exception_envelope(
        self,
        exc: BaseException,
        tb: TracebackType | None,
        context: InvocationContext | None,
        created: float,
        properties: dict[str, object],
        severity: int,
    ) -> Envelope:
        details = []
        chain: list[tuple[BaseException, TracebackType | None]] = [(exc, tb)]
        seen = {id(exc)}
        current = exc
        while len(chain) < _MAX_CHAINED:
            nxt = current.__cause__ or (
                None if current.__suppress_context__ else current.__context__
            )
            if nxt is None or id(nxt) in seen:
                break
            seen.add(id(nxt))
            chain.append((nxt, nxt.__traceback__))
            current = nxt
        for index, (error, error_tb) in enumerate(chain):
            frames = traceback.extract_tb(error_tb) if error_tb is not None else []
            stack = [
                {
                    "level": level,
                    "method": frame.name,
                    "fileName": frame.filename,
                    "line": frame.lineno or 0,
                    "assembly": "Unknown",
                }
                for level, frame in enumerate(reversed(frames))
            ]
            details.append(
                {
                    "id": index + 1,
                    "outerId": index,
                    "typeName": type(error).__qualname__,
                    "message": truncate(self._scrubber.scrub(safe_str(error)), MAX_MESSAGE)
                    or type(error).__name__,
                    "hasFullStack": True,
                    "parsedStack": stack[:200],
                }
            )
        data = {
            "ver": 2,
            "exceptions": details,
            "severityLevel": severity,
            "properties": self._scrubber.properties(properties),
        }
        envelope = self._envelope("Exception", "ExceptionData", created, context, data)
        return self._fit(envelope, "exceptions")

    def _tags(
        self, operation_id: str | None, parent_id: str | None, operation_name: str | None
    ) -> dict[str, str]:
        """A new tags dict; the same operation's tags are put together once."""
        key = (operation_id, parent_id, operation_name)
        tags = self._tag_memo.get(key)
        if tags is None:
            tags = dict(self._base_tags)
            if operation_id:
                tags["ai.operation.id"] = operation_id
            if parent_id:
                tags["ai.operation.parentId"] = parent_id
            if operation_name:
                tags["ai.operation.name"] = truncate(operation_name, MAX_NAME)
            if all(part is None or type(part) is str for part in key):  # equal is the same text
                remember(self._tag_memo, key, tags)
        return tags.copy()

    def _envelope(
        self,
        kind: str,
        base_type: str,
        created: float,
        context: InvocationContext | None,
        data: dict[str, Any],
    ) -> Envelope:
        if context is None:
            tags = self._base_tags.copy()
        else:
            tags = self._tags(context.operation_id, context.parent_id, context.function_name)
        return self._wrap(kind, base_type, created, tags, data)

    def _wrap(
        self, kind: str, base_type: str, created: float, tags: dict[str, str], data: Any
    ) -> Envelope:
        return {
            "iKey": self._ikey,
            "tags": tags,
            "time": format_time(created),
            "name": f"Microsoft.ApplicationInsights.{kind}",
            "data": {"baseData": data, "baseType": base_type},
        }

    def _fit(self, envelope: Envelope, field: str) -> Envelope:
        """Keep the whole item under the service's 64 kB by cutting its largest texts.

        Sizes are measured as ASCII-escaped JSON, an upper bound of the UTF-8 size whatever the
        characters (and one that a lone surrogate cannot break). Cuts leave visible markers:
        ``...[truncated N chars]`` in a text, ``_truncated_properties`` for removed properties.
        """
        base = envelope["data"]["baseData"]
        props: dict[str, str] = base.get("properties", {})
        if field != "exceptions" and _far_below_limit(base.get("message", ""), props):
            return envelope  # the common case: far too small to matter
        size = _json_size(envelope)
        if size <= _ITEM_BUDGET:
            return envelope
        if field == "message":
            message = base["message"]
            bytes_per_char = _json_size(message) / max(1, len(message))
            cut = math.ceil((size - _ITEM_BUDGET) / bytes_per_char) + 64  # + the marker
            base["message"] = truncate(message, max(1024, len(message) - cut))
        elif field == "exceptions":
            for detail in base["exceptions"]:
                detail["parsedStack"] = detail["parsedStack"][:20]
                detail["message"] = truncate(detail["message"], 4096)
        size = _json_size(envelope)
        for key in sorted(props, key=lambda k: -len(props[k])):
            if size <= _ITEM_BUDGET:
                return envelope
            before = _json_size(props[key])
            props[key] = truncate(props[key], 256)
            size -= before - _json_size(props[key])
        removed = 0
        for key in sorted(props, key=lambda k: -len(k) - len(props[k])):
            if size <= _ITEM_BUDGET:
                break
            size -= _json_size(key) + _json_size(props.pop(key)) + 4
            removed += 1
        if removed:
            earlier = props.get("_truncated_properties", "")
            removed += int(earlier) if earlier.isdigit() else 0
            props["_truncated_properties"] = str(removed)
        return envelope


def _far_below_limit(message: str, properties: dict[str, str]) -> bool:
    """Whether the texts are too short to bring an item near the limit, escaped or not."""
    text = len(message) + sum(map(len, properties)) + sum(map(len, properties.values()))
    return text * _MAX_ESCAPED_CHAR_BYTES < _ITEM_BUDGET


def _json_size(value: object) -> int:
    return len(json.dumps(value, default=safe_str))
