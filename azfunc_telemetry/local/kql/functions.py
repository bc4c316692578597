"""Scalar (per-row) functions, looked up by name when a query is checked.

Each entry records how many arguments the function takes so a wrong call is reported at the
function's position before any row is read. Functions receive already-evaluated arguments plus
the query's fixed ``now()`` instant, which keeps ``ago()`` deterministic within one query (and
injectable in tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import EvaluationError
from .operations import bin_value, kusto_type_name
from .values import (
    format_value,
    is_number,
    to_bool,
    to_datetime,
    to_dynamic,
    to_int,
    to_real,
    to_timespan,
)

__all__ = ["SCALAR_FUNCTIONS", "ScalarFunction", "expect", "register", "unary_function"]

ScalarImpl = Callable[[Sequence[Any], datetime], Any]


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """A scalar function and its accepted argument count (``max_args`` None = any number)."""

    impl: ScalarImpl
    min_args: int
    max_args: int | None


SCALAR_FUNCTIONS: dict[str, ScalarFunction] = {}


_SAME_AS_MIN = -1


def _register(
    *names: str, min_args: int, max_args: int | None = _SAME_AS_MIN
) -> Callable[[ScalarImpl], ScalarImpl]:
    """Register ``impl`` under each name; ``max_args`` defaults to ``min_args``."""

    def decorate(impl: ScalarImpl) -> ScalarImpl:
        maximum = min_args if max_args == _SAME_AS_MIN else max_args
        spec = ScalarFunction(impl, min_args, maximum)
        for name in names:
            SCALAR_FUNCTIONS[name] = spec
        return impl

    return decorate


def _unary(*names: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a one-argument function that ignores ``now``."""

    def decorate(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _register(*names, min_args=1)(lambda args, _now: func(args[0]))
        return func

    return decorate


def _expect(name: str, value: Any, kind: type, kind_name: str) -> Any:
    """Return ``value`` if null or of ``kind`` (bools never pass as numbers), else fail."""
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    ):
        got = kusto_type_name(value)
        raise EvaluationError(f"{name}() expects a {kind_name} argument, got {got}")
    return value


def _number(name: str, value: Any) -> float | int | None:
    if value is None:
        return None
    if not is_number(value):
        raise EvaluationError(f"{name}() expects a number, got {kusto_type_name(value)}")
    return value  # type: ignore[no-any-return]


register = _register
unary_function = _unary
expect = _expect


# --- time -------------------------------------------------------------------------------------


@_register("now", min_args=0, max_args=1)
def _now(args: Sequence[Any], now: datetime) -> Any:
    offset = _expect("now", args[0], timedelta, "timespan") if args else None
    return now + offset if offset is not None else now


@_register("ago", min_args=1)
def _ago(args: Sequence[Any], now: datetime) -> Any:
    span = _expect("ago", args[0], timedelta, "timespan")
    return None if span is None else now - span


def _start_of(name: str, value: Any, offset: Any) -> datetime | None:
    moment: datetime | None = _expect(name, value, datetime, "datetime")
    shift: int = _expect(name, offset, int, "long") or 0
    if moment is None:
        return None
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "startofday":
        return day + timedelta(days=shift)
    if name == "startofweek":  # Kusto weeks start on Sunday
        return day - timedelta(days=(day.weekday() + 1) % 7) + timedelta(weeks=shift)
    if name == "startofmonth":
        months = day.year * 12 + day.month - 1 + shift
        return day.replace(year=months // 12, month=months % 12 + 1, day=1)
    return day.replace(year=day.year + shift, month=1, day=1)


def _start_of_function(name: str) -> ScalarImpl:
    def start_of(args: Sequence[Any], _now: datetime) -> Any:
        return _start_of(name, args[0], args[1] if len(args) > 1 else 0)

    return start_of


for _period in ("day", "week", "month", "year"):
    _register(f"startof{_period}", min_args=1, max_args=2)(_start_of_function(f"startof{_period}"))


@_unary("hourofday")
def _hour_of_day(value: Any) -> Any:
    moment = _expect("hourofday", value, datetime, "datetime")
    return None if moment is None else moment.hour


@_unary("dayofweek")
def _day_of_week(value: Any) -> Any:
    moment = _expect("dayofweek", value, datetime, "datetime")
    return None if moment is None else timedelta(days=(moment.weekday() + 1) % 7)


# --- conversion -------------------------------------------------------------------------------

_unary("tostring", "toguid")(format_value)
_unary("toint", "tolong")(to_int)
_unary("todouble", "toreal", "todecimal")(to_real)
_unary("tobool", "toboolean")(to_bool)
_unary("todatetime")(to_datetime)
_unary("totimespan")(to_timespan)
_unary("todynamic", "parse_json")(to_dynamic)


# --- strings ----------------------------------------------------------------------------------


@_unary("strlen")
def _strlen(value: Any) -> Any:
    return len(format_value(value))


@_unary("tolower")
def _tolower(value: Any) -> Any:
    return format_value(value).lower()


@_unary("toupper")
def _toupper(value: Any) -> Any:
    return format_value(value).upper()


@_register("strcat", min_args=1, max_args=None)
def _strcat(args: Sequence[Any], _now: datetime) -> Any:
    return "".join(format_value(arg) for arg in args)


@_register("strcat_delim", min_args=3, max_args=None)
def _strcat_delim(args: Sequence[Any], _now: datetime) -> Any:
    return format_value(args[0]).join(format_value(arg) for arg in args[1:])


@_register("substring", min_args=2, max_args=3)
def _substring(args: Sequence[Any], _now: datetime) -> Any:
    text = format_value(args[0])
    start = max(_expect("substring", args[1], int, "long") or 0, 0)
    length = _expect("substring", args[2], int, "long") if len(args) > 2 else None
    return text[start:] if length is None else text[start : start + max(length, 0)]


@_register("indexof", min_args=2)
def _indexof(args: Sequence[Any], _now: datetime) -> Any:
    return format_value(args[0]).find(format_value(args[1]))


@_register("split", min_args=2, max_args=3)
def _split(args: Sequence[Any], _now: datetime) -> Any:
    parts = format_value(args[0]).split(format_value(args[1]))
    if len(args) < 3:
        return parts
    position = _expect("split", args[2], int, "long")
    return [parts[position]] if position is not None and 0 <= position < len(parts) else []


@_register("replace_string", min_args=3)
def _replace_string(args: Sequence[Any], _now: datetime) -> Any:
    return format_value(args[0]).replace(format_value(args[1]), format_value(args[2]))


@_register("extract", min_args=3)
def _extract(args: Sequence[Any], _now: datetime) -> Any:
    group = _expect("extract", args[1], int, "long") or 0
    try:
        match = re.search(format_value(args[0]), format_value(args[2]))
    except re.error as error:
        raise EvaluationError(f"invalid regular expression: {error}") from None
    if match is None or group > (match.re.groups or 0):
        return ""  # Kusto strings are never null
    return match.group(group) or ""


# --- nulls and conditionals -------------------------------------------------------------------


@_unary("isempty")
def _isempty(value: Any) -> Any:
    return value is None or value == ""


@_unary("isnotempty", "notempty")
def _isnotempty(value: Any) -> Any:
    return not (value is None or value == "")


@_unary("isnull")
def _isnull(value: Any) -> Any:
    return value is None


@_unary("isnotnull", "notnull")
def _isnotnull(value: Any) -> Any:
    return value is not None


@_unary("not")
def _not(value: Any) -> Any:
    condition = _expect("not", value, bool, "bool")
    return None if condition is None else not condition


@_register("iff", "iif", min_args=3)
def _iff(args: Sequence[Any], _now: datetime) -> Any:
    return args[1] if args[0] is True else args[2]


@_register("case", min_args=3, max_args=None)
def _case(args: Sequence[Any], _now: datetime) -> Any:
    if len(args) % 2 == 0:
        raise EvaluationError("case() expects predicate/value pairs followed by an else value")
    for index in range(0, len(args) - 1, 2):
        if args[index] is True:
            return args[index + 1]
    return args[-1]


@_register("coalesce", min_args=2, max_args=None)
def _coalesce(args: Sequence[Any], _now: datetime) -> Any:
    return next((arg for arg in args if arg is not None and arg != ""), args[-1])


@_unary("array_length")
def _array_length(value: Any) -> Any:
    return len(value) if isinstance(value, list) else None


# --- numbers ----------------------------------------------------------------------------------


@_register("bin", min_args=2)
def _bin(args: Sequence[Any], _now: datetime) -> Any:
    return bin_value(args[0], args[1])


@_register("floor", min_args=1, max_args=2)
def _floor(args: Sequence[Any], _now: datetime) -> Any:
    if len(args) == 2:
        return bin_value(args[0], args[1])
    value = _number("floor", args[0])
    return None if value is None else type(value)(math.floor(value))


@_unary("ceiling")
def _ceiling(value: Any) -> Any:
    number = _number("ceiling", value)
    return None if number is None else type(number)(math.ceil(number))


@_register("round", min_args=1, max_args=2)
def _round(args: Sequence[Any], _now: datetime) -> Any:
    value = _number("round", args[0])
    digits = _expect("round", args[1], int, "long") if len(args) > 1 else 0
    if value is None or digits is None:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return value
    quantum = Decimal(1).scaleb(-digits)  # Kusto rounds halves away from zero
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    return int(rounded) if isinstance(value, int) else float(rounded)


def _math(name: str, func: Callable[[float], float]) -> None:
    def apply(value: Any) -> Any:
        number = _number(name, value)
        if number is None:
            return None
        try:
            return func(number)
        except (ValueError, OverflowError):
            return math.nan

    _unary(name)(apply)


_math("abs", abs)
_math("sqrt", math.sqrt)
_math("exp", math.exp)
_math("log", math.log)
_math("log10", math.log10)


@_register("pow", min_args=2)
def _pow(args: Sequence[Any], _now: datetime) -> Any:
    base, exponent = _number("pow", args[0]), _number("pow", args[1])
    if base is None or exponent is None:
        return None
    try:
        return float(base) ** float(exponent)
    except (ZeroDivisionError, OverflowError):
        return math.nan


def _window_placeholder(args: Sequence[Any], _now: datetime) -> Any:
    raise EvaluationError("prev(), next() and row_number() are computed by extend and project")


register("prev", "next", min_args=1, max_args=3)(_window_placeholder)
register("row_number", min_args=0, max_args=2)(_window_placeholder)
register("toscalar", min_args=1)(_window_placeholder)
