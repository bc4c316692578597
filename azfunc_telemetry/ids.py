"""W3C trace-context identifiers: parsing ``traceparent`` and minting new ids.

Application Insights joins rows on ``operation_Id`` (the W3C trace id) and parents them through
``operation_ParentId`` (a span id), so every item we send carries ids in exactly this format.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["new_span_id", "new_trace_id", "parse_traceparent"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})(?:-[0-9a-f]{2}.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _first_random_bits(bits: int) -> int:
    # ``random`` is imported on the first invocation, not at ``import azfunc_telemetry``; the
    # interpreter reseeds it in forked children by itself.
    global _random_bits
    from random import getrandbits

    _random_bits = getrandbits
    return getrandbits(bits)


_random_bits: Callable[[int], int] = _first_random_bits


def new_span_id() -> str:
    """A random, non-zero 16-hex-digit span id."""
    return "%016x" % (_random_bits(64) or 1)


def new_trace_id() -> str:
    """A random, non-zero 32-hex-digit trace id."""
    return "%032x" % (_random_bits(128) or 1)


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Split ``00-<trace id>-<span id>-<flags>`` into ``(trace_id, span_id)``.

    Returns ``None`` for anything that is not a valid version-00-compatible header (the ids
    are lower-case hex by the specification), including all-zero ids, so a malformed header
    from upstream starts a fresh trace instead of joining every bad request into one operation.
    """
    if not value or not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, span_id = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id
