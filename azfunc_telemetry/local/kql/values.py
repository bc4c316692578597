"""Kusto scalar values as Python objects: parsing, conversion and text form.

Kusto's types map onto Python like this: ``bool`` -> ``bool``, ``long``/``int`` -> ``int``,
``real`` -> ``float``, ``string`` -> ``str``, ``datetime`` -> timezone-aware UTC ``datetime``,
``timespan`` -> ``timedelta``, ``dynamic`` -> ``dict``/``list``/scalar, and null -> ``None``.
Keeping the mapping in one module means the lexer, the functions and the table renderer parse and
print values identically, and printed values look like the ones Application Insights returns.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "CONVERTERS",
    "TIMESPAN_UNITS",
    "UTC",
    "format_datetime",
    "format_timespan",
    "format_value",
    "group_key",
    "is_number",
    "parse_datetime_text",
    "parse_timespan_text",
    "to_bool",
    "to_datetime",
    "to_dynamic",
    "to_int",
    "to_real",
    "to_timespan",
]

UTC = timezone.utc

TIMESPAN_UNITS: dict[str, timedelta] = {
    **dict.fromkeys(("d", "day", "days"), timedelta(days=1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    **dict.fromkeys(("m", "min", "minute", "minutes"), timedelta(minutes=1)),
    **dict.fromkeys(("s", "sec", "second", "seconds"), timedelta(seconds=1)),
    **dict.fromkeys(
        ("ms", "milli", "millis", "millisecond", "milliseconds"), timedelta(milliseconds=1)
    ),
    **dict.fromkeys(("microsecond", "microseconds"), timedelta(microseconds=1)),
}

_DATETIME_RE = re.compile(
    r"""\s*(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:[T\s](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?
    \s*(?P<tz>Z|[+-]\d{2}:?\d{2})?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_CLOCK_TIMESPAN_RE = re.compile(
    r"\s*(?P<neg>-)?(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?)?\s*$"
)
_UNIT_TIMESPAN_RE = re.compile(r"\s*(?P<n>-?\d+(?:\.\d+)?)\s*(?P<u>[a-zA-Z]+)\s*$")
_INT_RE = re.compile(r"\s*[+-]?\d+\s*$")
_REAL_RE = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def is_number(value: object) -> bool:
    """True for ints and floats but not bools, which Kusto never treats as numbers."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_datetime_text(text: str) -> datetime | None:
    """Parse the ISO-8601-like forms Kusto accepts in ``datetime(...)``; naive means UTC."""
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    parts = match.groupdict()
    fraction = (parts["f"] or "0")[:6].ljust(6, "0")
    try:
        value = datetime(
            int(parts["y"]),
            int(parts["mo"]),
            int(parts["d"]),
            int(parts["h"] or 0),
            int(parts["mi"] or 0),
            int(parts["s"] or 0),
            int(fraction),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    zone = parts["tz"]
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


def parse_timespan_text(text: str) -> timedelta | None:
    """Parse ``[-][d.]hh:mm[:ss[.fffffff]]`` or a number with a unit such as ``1.5h``."""
    clock = _CLOCK_TIMESPAN_RE.match(text)
    if clock is not None:
        parts = clock.groupdict()
        fraction = (parts["f"] or "0").ljust(7, "0")
        value = timedelta(
            days=int(parts["d"] or 0),
            hours=int(parts["h"]),
            minutes=int(parts["m"]),
            seconds=int(parts["s"] or 0),
            microseconds=int(fraction) / 10,
        )
        return -value if parts["neg"] else value
    unit_form = _UNIT_TIMESPAN_RE.match(text)
    if unit_form is not None and unit_form["u"].lower() in TIMESPAN_UNITS:
        return float(unit_form["n"]) * TIMESPAN_UNITS[unit_form["u"].lower()]
    return None


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and only as many fraction digits as needed."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_timespan(value: timedelta) -> str:
    """Kusto's timespan text: ``[-][d.]hh:mm:ss[.fffffff]``, e.g. ``00:01:00``."""
    sign = "-" if value < timedelta(0) else ""
    remaining = abs(value)
    days = remaining.days
    hours, rest = divmod(remaining.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    if remaining.microseconds:
        text += f".{remaining.microseconds * 10:07d}"
    return text


def _format_real(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    return str(value)


def format_value(value: object) -> str:
    """The string form of a value, as ``tostring()`` gives it; null is the empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_real(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return str(value)


def to_int(value: object) -> int | None:
    """``toint``/``tolong``: truncate numbers, parse numeric strings, otherwise null."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else int(value)
    if isinstance(value, str):
        if _INT_RE.match(value):
            return int(value)
        if _REAL_RE.match(value):
            return int(float(value))
    return None


def to_real(value: object) -> float | None:
    """``todouble``/``toreal``: numbers and numeric strings become floats, otherwise null."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _REAL_RE.match(value):
        return float(value)
    return None


def to_bool(value: object) -> bool | None:
    """``tobool``: ``"true"``/``"false"`` (any case) and non-zero numbers; otherwise null."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def to_datetime(value: object) -> datetime | None:
    """``todatetime``: datetimes pass through, strings are parsed, otherwise null."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return parse_datetime_text(value)
    return None


def to_timespan(value: object) -> timedelta | None:
    """``totimespan``: timespans pass through, strings are parsed, otherwise null."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_timespan_text(value)
    return None


def to_dynamic(value: object) -> Any:
    """``parse_json``/``todynamic``: decode JSON text; anything else is returned unchanged."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def group_key(value: object) -> object:
    """A hashable stand-in for a value, so dynamic values can be grouped and joined on."""
    if isinstance(value, (dict, list)):
        return ("dynamic", format_value(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": format_value, "long": to_int, "int": to_int, "real": to_real, "double": to_real,
    "bool": to_bool, "boolean": to_bool, "datetime": to_datetime, "date": to_datetime,
    "timespan": to_timespan, "time": to_timespan, "dynamic": lambda value: value,
}  # fmt: skip
"""Kusto type name (as written in ``parse``, ``datatable`` and ``to typeof()``) to the function
converting a value to that type."""
