"""W3C trace-context identifiers: parsing ``traceparent`` and minting new ids.

Application Insights joins rows on ``operation_Id`` (the W3C trace id) and parents them through
``operation_ParentId`` (a span id), so every item we send carries ids in exactly this format.
"""

from __future__ import annotations

import os
import re

__all__ = ["new_span_id", "new_trace_id", "parse_traceparent"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})(?:-[0-9a-f]{2}.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_HEX_AND_DASH = b"0123456789abcdef-"


#: Span ids minted ahead, in bulk: one ``os.urandom`` call and one ``hex()`` for many ids costs
#: a fraction of formatting a random number per id, and every invocation needs one.
_SPAN_BATCH = 256
_spare_span_ids: list[str] = []


def _mint_span_ids() -> list[str]:
    text = os.urandom(8 * _SPAN_BATCH).hex()
    spans = [text[start : start + 16] for start in range(0, len(text), 16)]
    return [span for span in spans if span != _ZERO_SPAN]


def new_span_id() -> str:
    """A random, non-zero 16-hex-digit span id."""
    spare = _spare_span_ids
    while True:
        try:
            return spare.pop()  # atomic: threads never get the same id
        except IndexError:
            spare.extend(_mint_span_ids())


def new_trace_id() -> str:
    """A random, non-zero 32-hex-digit trace id."""
    while True:
        trace_id = os.urandom(16).hex()
        if trace_id != _ZERO_TRACE:
            return trace_id


# A forked child must not hand out the ids its parent has minted and may use too.
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_spare_span_ids.clear)


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """Split ``00-<trace id>-<span id>-<flags>`` into ``(trace_id, span_id)``.

    Returns ``None`` for anything that is not a valid version-00-compatible header (the ids
    are lower-case hex by the specification), including all-zero ids, so a malformed header
    from upstream starts a fresh trace instead of joining every bad request into one operation.
    """
    if not isinstance(value, str):
        return None
    if len(value) == 55:
        # The header every invocation gets, checked without the regular expression, which
        # costs twice as much on this path: dashes where they belong and nowhere else, and
        # nothing but lower-case hex digits and those dashes.
        if (
            value[2] != "-"
            or value[35] != "-"
            or value[52] != "-"
            or value.count("-") != 3
            or not value.isascii()
            or value.encode("ascii").translate(None, _HEX_AND_DASH)
        ):
            return None
        version, trace_id, span_id = value[:2], value[3:35], value[36:52]
    else:
        match = _TRACEPARENT.fullmatch(value) if value else None
        if match is None:
            return None
        version, trace_id, span_id = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id
