"""A log record's custom dimensions, cleaned: what every ``traces`` row carries as properties.

Every record gets the invocation, level, logger, file and line, plus whatever ``extra=`` (or
opencensus-style ``custom_dimensions``) added. A record of an invocation also gets the
dimensions the Functions host puts on the logs it forwards (``InvocationId``, ``Category``,
``LogLevel``, ``ProcessId``), so the portal's invocation view and every query written against
host-written logs find ours too. Cleaning them (scrubbing, stringifying, cutting)
is most of the cost of building a log envelope on the export thread, and nearly all of it
repeats record after record, so :class:`LogDimensions` works each part out once and copies it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from .invocation import InvocationContext
from .scrubbing import MAX_PROPERTIES, Scrubber, safe_str

__all__ = [
    "MEMO_MAX",
    "LogDimensions",
    "host_category",
    "host_dimensions",
    "host_log_level",
    "record_properties",
    "remember",
]

#: Entries each memo keeps before it starts afresh.
MEMO_MAX = 1024

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("n", 0, "p", 0, "m", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "custom_dimensions",
}

_K = TypeVar("_K")
_V = TypeVar("_V")


def remember(memo: dict[_K, _V], key: _K, value: _V) -> None:
    """Keep ``value`` under ``key``, starting ``memo`` afresh when it is full (stays bounded)."""
    if len(memo) >= MEMO_MAX:
        memo.clear()
    memo[key] = value


def host_log_level(levelno: int) -> str:
    """A Python level spelled as the host spells a .NET ``LogLevel`` (``Information``...)."""
    if levelno >= logging.CRITICAL:
        return "Critical"
    if levelno >= logging.ERROR:
        return "Error"
    if levelno >= logging.WARNING:
        return "Warning"
    if levelno >= logging.INFO:
        return "Information"
    if levelno >= logging.DEBUG:
        return "Debug"
    return "Trace"


def host_category(function_name: str) -> str:
    """The category the host logs a function's user logs under."""
    return f"Function.{function_name}.User"


def host_dimensions(context: InvocationContext, levelno: int) -> dict[str, object]:
    """What the host puts on each log it forwards for an invocation, for one of ours."""
    return {
        "InvocationId": context.invocation_id,
        "Category": host_category(context.function_name),
        "LogLevel": host_log_level(levelno),
        "ProcessId": os.getpid(),
    }


def _head_properties(
    record: logging.LogRecord, context: InvocationContext | None
) -> dict[str, object]:
    properties: dict[str, object] = {}
    if context is not None:
        properties["invocation_id"] = context.invocation_id
        properties["function_name"] = context.function_name
    properties["level"] = record.levelname
    if context is not None:
        properties.update(host_dimensions(context, record.levelno))
    properties["logger_name"] = record.name
    properties["file_name"] = record.filename
    properties["line_number"] = record.lineno
    return properties


def record_properties(
    record: logging.LogRecord, context: InvocationContext | None
) -> dict[str, object]:
    """A record's dimensions before cleaning, in the order the row shows them."""
    properties = _head_properties(record, context)
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS:
            properties[key] = value
    nested = record.__dict__.get("custom_dimensions")
    if isinstance(nested, Mapping):
        # The opencensus convention; flattened so each field is one dimension.
        for key, value in nested.items():
            properties[safe_str(key)] = value
    return properties


class LogDimensions:
    """``scrubber.properties(record_properties(record, context))``, from memos.

    The first properties (invocation, level, logger, file, line) are cleaned once per invocation
    and call site, the names ``extra=`` added found once per shape of record, and their values
    cleaned pair by pair through the scrubber's own memo. Where parts name the same property,
    or there are too many, the plain path's order and limits decide, and it is taken instead.
    Memo values are never handed out, only copies.
    """

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._head_memo: dict[tuple[object, ...], tuple[dict[str, str], int]] = {}
        self._extra_memo: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._last_shape: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())

    def __call__(
        self, record: logging.LogRecord, context: InvocationContext | None
    ) -> dict[str, str]:
        """The cleaned dimensions of ``record``, emitted in ``context``."""
        return self.measured(record, context)[0]

    def measured(
        self, record: logging.LogRecord, context: InvocationContext | None
    ) -> tuple[dict[str, str], int]:
        """The cleaned dimensions of ``record`` and how many characters their names and texts
        hold: the envelope's size check reads the count instead of measuring every text."""
        scrubber = self._scrubber
        attrs = record.__dict__
        shape, last = tuple(attrs), self._last_shape
        if shape == last[0]:
            extra = last[1]
        else:
            found = self._extra_memo.get(shape)
            if found is None:
                found = tuple(key for key in shape if key not in _STANDARD_ATTRS)
                if not all(type(key) is str for key in found):  # 1 == True: shapes would mix
                    return _plain(scrubber, record, context)
                remember(self._extra_memo, shape, found)
            self._last_shape = (shape, found)
            extra = found
        line = record.lineno
        levelno = record.levelno
        key: tuple[object, ...]
        if context is None:
            key = (record.levelname, record.name, record.filename, levelno, line)
        else:
            key = (
                context.invocation_id,
                context.function_name,
                record.levelname,
                record.name,
                record.filename,
                levelno,
                line,
            )
        exact = type(line) is int and type(levelno) is int  # True == 1, not as text
        known = self._head_memo.get(key) if exact else None
        if known is None:
            head: dict[str, str] = {}
            raw = _head_properties(record, context)
            count, chars = scrubber.add_measured(head, raw, raw)
            known = (head, chars)
            if exact and count == len(head) and all(type(part) is str for part in key[:-2]):
                remember(self._head_memo, key, known)
        head, chars = known
        properties = head.copy()
        count = len(head)
        if extra:
            added, extra_chars = scrubber.add_measured(properties, extra, attrs)
            count += added
            chars += extra_chars
        nested = attrs.get("custom_dimensions")
        if nested is not None and isinstance(nested, Mapping):  # an ABC check is not cheap
            # Its names become text when cleaned, as record_properties' safe_str makes them.
            added, extra_chars = scrubber.add_measured(properties, nested, nested)
            count += added
            chars += extra_chars
        if len(properties) != count or count > MAX_PROPERTIES:
            return _plain(scrubber, record, context)
        return properties, chars


def _plain(
    scrubber: Scrubber, record: logging.LogRecord, context: InvocationContext | None
) -> tuple[dict[str, str], int]:
    """The dimensions cleaned the plain way (names collide, too many), and their characters."""
    properties = scrubber.properties(record_properties(record, context))
    return properties, sum(map(len, properties)) + sum(map(len, properties.values()))
