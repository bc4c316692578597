"""W3C trace-context identifiers: parsing ``traceparent`` and minting new ids.

Application Insights joins rows on ``operation_Id`` (the W3C trace id) and parents them through
``operation_ParentId`` (a span id), so every item we send carries ids in exactly this format.
"""

from __future__ import annotations

import os

__all__ = ["new_span_id", "new_trace_id", "parse_traceparent"]

_HEX = frozenset("0123456789abcdef")


def new_span_id() -> str:
    """A random, non-zero 16-hex-digit span id."""
    value = os.urandom(8).hex()
    return value if value != "0" * 16 else "0" * 15 + "1"


def new_trace_id() -> str:
    """A random, non-zero 32-hex-digit trace id."""
    value = os.urandom(16).hex()
    return value if value != "0" * 32 else "0" * 31 + "1"


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Split ``00-<trace id>-<span id>-<flags>`` into ``(trace_id, span_id)``.

    Returns ``None`` for anything that is not a valid version-00-compatible header, including
    all-zero ids, so a malformed header from upstream starts a fresh trace instead of joining
    every bad request into one operation.
    """
    if not value or len(value) < 55:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    trace_id, span_id = parts[1], parts[2]
    if len(trace_id) != 32 or len(span_id) != 16:
        return None
    if not (_HEX.issuperset(trace_id) and _HEX.issuperset(span_id)):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id
