"""Date and time functions: adding and differencing calendar parts, formatting, parts of dates.

``datetime_diff`` counts boundaries crossed, as Kusto does (``datetime_diff('day', d1, d2)`` is
the number of midnights between them), and ``datetime_add`` moves months and years by the
calendar, clamping the day to the month's length.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .errors import EvaluationError
from .functions import expect, register, unary_function
from .values import UTC, format_value

__all__: list[str] = []

_FIXED = {
    "week": timedelta(weeks=1), "day": timedelta(days=1), "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1), "second": timedelta(seconds=1),
    "millisecond": timedelta(milliseconds=1), "microsecond": timedelta(microseconds=1),
}  # fmt: skip
_ALIASES = {"weeks": "week", "days": "day", "hours": "hour", "minutes": "minute",
            "seconds": "second", "milliseconds": "millisecond", "months": "month",
            "years": "year", "quarters": "quarter"}  # fmt: skip


def _part(value: Any) -> str:
    part = format_value(value).strip().lower()
    part = _ALIASES.get(part, part)
    if part not in _FIXED and part not in ("month", "year", "quarter"):
        raise EvaluationError(f"unknown date part {format_value(value)!r}")
    return part


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@register("datetime_add", min_args=3)
def _datetime_add(args: Sequence[Any], _now: datetime) -> Any:
    part = _part(args[0])
    amount = expect("datetime_add", args[1], int, "long")
    moment = expect("datetime_add", args[2], datetime, "datetime")
    if amount is None or moment is None:
        return None
    if part in _FIXED:
        return moment + amount * _FIXED[part]
    months = amount * {"month": 1, "quarter": 3, "year": 12}[part]
    return _add_months(moment, months)


def _floor(moment: datetime, part: str) -> datetime:
    if part == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if part == "quarter":
        month = (moment.month - 1) // 3 * 3 + 1
        return moment.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    if part == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if part == "week":  # weeks start on Sunday
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=(day.weekday() + 1) % 7)
    origin = datetime(1, 1, 1, tzinfo=moment.tzinfo)
    size = _FIXED[part]
    return origin + ((moment - origin) // size) * size


@register("datetime_diff", min_args=3)
def _datetime_diff(args: Sequence[Any], _now: datetime) -> Any:
    part = _part(args[0])
    first = expect("datetime_diff", args[1], datetime, "datetime")
    second = expect("datetime_diff", args[2], datetime, "datetime")
    if first is None or second is None:
        return None
    if part in ("year", "quarter", "month"):
        months = (first.year - second.year) * 12 + first.month - second.month
        return (
            months // {"month": 1, "quarter": 3, "year": 12}[part]
            if part == "month"
            else (
                (first.year * 12 + first.month - 1) // {"quarter": 3, "year": 12}[part]
                - (second.year * 12 + second.month - 1) // {"quarter": 3, "year": 12}[part]
            )
        )
    return (_floor(first, part) - _floor(second, part)) // _FIXED[part]


_FORMAT_TOKENS = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|F{1,7}|tt")


def _format_token(moment: datetime, token: str) -> str:
    if token[0] in "fF":
        digits = f"{moment.microsecond:06d}0"[: len(token)]
        return digits.rstrip("0") if token[0] == "F" else digits
    hour12 = moment.hour % 12 or 12
    table = {
        "yyyy": f"{moment.year:04d}", "yy": f"{moment.year % 100:02d}",
        "MM": f"{moment.month:02d}", "M": str(moment.month),
        "dd": f"{moment.day:02d}", "d": str(moment.day),
        "HH": f"{moment.hour:02d}", "H": str(moment.hour),
        "hh": f"{hour12:02d}", "h": str(hour12),
        "mm": f"{moment.minute:02d}", "m": str(moment.minute),
        "ss": f"{moment.second:02d}", "s": str(moment.second),
        "tt": "AM" if moment.hour < 12 else "PM",
    }  # fmt: skip
    return table[token]


@register("format_datetime", min_args=2)
def _format_datetime(args: Sequence[Any], _now: datetime) -> Any:
    moment = expect("format_datetime", args[0], datetime, "datetime")
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return _FORMAT_TOKENS.sub(lambda m: _format_token(moment, m.group(0)), format_value(args[1]))


def _date_part(name: str, pick: Any) -> None:
    def apply(value: Any) -> Any:
        moment = expect(name, value, datetime, "datetime")
        return None if moment is None else pick(moment)

    unary_function(name)(apply)


_date_part("getyear", lambda moment: moment.year)
_date_part("getmonth", lambda moment: moment.month)
_date_part("monthofyear", lambda moment: moment.month)
_date_part("dayofmonth", lambda moment: moment.day)
_date_part("dayofyear", lambda moment: moment.timetuple().tm_yday)
_date_part("week_of_year", lambda moment: moment.isocalendar()[1])
_date_part(
    "endofday", lambda moment: moment.replace(hour=23, minute=59, second=59, microsecond=999999)
)


@register("datetime_part", min_args=2)
def _datetime_part(args: Sequence[Any], _now: datetime) -> Any:
    part = format_value(args[0]).strip().lower()
    moment = expect("datetime_part", args[1], datetime, "datetime")
    if moment is None:
        return None
    values = {
        "year": moment.year, "quarter": (moment.month - 1) // 3 + 1, "month": moment.month,
        "day": moment.day, "dayofyear": moment.timetuple().tm_yday, "hour": moment.hour,
        "minute": moment.minute, "second": moment.second,
        "millisecond": moment.microsecond // 1000, "microsecond": moment.microsecond,
        "weekofyear": moment.isocalendar()[1], "week_of_year": moment.isocalendar()[1],
    }  # fmt: skip
    if part not in values:
        raise EvaluationError(f"unknown date part {part!r}")
    return values[part]


@unary_function("unixtime_seconds_todatetime")
def _from_unix_seconds(value: Any) -> Any:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=float(value))


@unary_function("unixtime_milliseconds_todatetime")
def _from_unix_millis(value: Any) -> Any:
    if value is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=float(value))


@register("format_timespan", min_args=2)
def _format_timespan(args: Sequence[Any], _now: datetime) -> Any:
    span = expect("format_timespan", args[0], timedelta, "timespan")
    if span is None:
        return ""
    negative = span < timedelta(0)
    span = abs(span)
    total_seconds = int(span.total_seconds())
    values = {
        "d": span.days,
        "h": (total_seconds // 3600) % 24,
        "m": (total_seconds // 60) % 60,
        "s": total_seconds % 60,
    }

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text[0] in "fF":
            digits = f"{span.microseconds:06d}0"[: len(text)]
            return digits.rstrip("0") if text[0] == "F" else digits
        key = text[0].lower()
        return str(values[key]).zfill(len(text))

    formatted = re.sub(r"d+|hh?|HH?|mm?|ss?|f{1,7}|F{1,7}", token, format_value(args[1]))
    return f"-{formatted}" if negative else formatted
