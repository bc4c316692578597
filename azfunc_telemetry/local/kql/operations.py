"""Kusto's operators on single values: arithmetic, comparison, logic and string matching.

Null handling follows Kusto: arithmetic with null is null, ``==`` with null is false and ``!=``
true, ordering comparisons with null are null (so a ``where`` drops the row), and ``and``/``or``
use three-valued logic. Values of different kinds (a string dimension and a number) are never
equal; convert explicitly with ``toint()``/``todouble()`` as you would in Application Insights.
Arithmetic on strings or bools is an error, as it is in Kusto.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timedelta
from typing import Any

from .errors import EvaluationError
from .values import UTC, format_value, is_number

__all__ = [
    "arithmetic",
    "bin_value",
    "compare",
    "kusto_type_name",
    "logical",
    "string_match",
    "unary",
    "values_equal",
]

_BIN_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)


def kusto_type_name(value: object) -> str:
    """The Kusto type name of a value, used in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, timedelta):
        return "timespan"
    return "dynamic"


def _type_error(op: str, left: object, right: object) -> EvaluationError:
    message = (
        f"operator '{op}' cannot be applied to {kusto_type_name(left)} and {kusto_type_name(right)}"
    )
    if isinstance(left, str) or isinstance(right, str):
        message += "; convert with toint()/todouble(), or use strcat() to join strings"
    return EvaluationError(message)


def _divide_numbers(left: float, right: float) -> float | int | None:
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            return None
        quotient = abs(left) // abs(right)  # Kusto's long division truncates towards zero
        return quotient if (left >= 0) == (right > 0) else -quotient
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _modulo_numbers(left: float, right: float) -> float | int | None:
    if right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)  # sign follows the dividend, as in Kusto
        return remainder if left >= 0 else -remainder
    return math.fmod(left, right)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """Apply ``+ - * / %`` with Kusto's rules for numbers, datetimes and timespans."""
    if left is None or right is None:
        return None
    left_number, right_number = is_number(left), is_number(right)
    if left_number and right_number:
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return _divide_numbers(left, right)
        return _modulo_numbers(left, right)
    left_span, right_span = isinstance(left, timedelta), isinstance(right, timedelta)
    left_time, right_time = isinstance(left, datetime), isinstance(right, datetime)
    if op == "+" and ((left_time and right_span) or (left_span and (right_time or right_span))):
        return left + right
    if op == "-" and (left_time or left_span) and (right_span or (left_time and right_time)):
        return left - right
    if op == "*" and ((left_span and right_number) or (left_number and right_span)):
        return left * right
    if op == "/" and left_span and (right_span or right_number):
        if right == 0 or right == timedelta(0):
            return None
        return left / right
    raise _type_error(op, left, right)


def unary(op: str, value: Any) -> Any:
    """Unary ``-`` or ``+`` for numbers and timespans."""
    if value is None:
        return None
    if is_number(value) or isinstance(value, timedelta):
        return -value if op == "-" else value
    raise EvaluationError(f"unary '{op}' cannot be applied to {kusto_type_name(value)}")


def _comparable(left: Any, right: Any) -> bool:
    if is_number(left) and is_number(right):
        return True
    for kind in (str, bool, datetime, timedelta):
        if isinstance(left, kind) and isinstance(right, kind):
            return True
    return False


def _bool_text(value: Any) -> bool | None:
    """The bool a ``"True"``/``"False"`` string stands for (any case), else None."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def values_equal(left: Any, right: Any, *, case_insensitive: bool = False) -> bool:
    """Kusto equality: never equal to null, nor across kinds that cannot compare.

    A bool equals the strings ``"True"``/``"False"``: Application Insights keeps ``success`` as
    such a string, so both ``success == false`` and ``success == "False"`` select failures.
    """
    if left is None or right is None:
        return False
    if isinstance(left, bool) and isinstance(right, str):
        return _bool_text(right) is left
    if isinstance(right, bool) and isinstance(left, str):
        return _bool_text(left) is right
    if case_insensitive and isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) and isinstance(right, (dict, list)):
        return bool(left == right)
    if not _comparable(left, right):
        return False
    return bool(left == right)


def compare(op: str, left: Any, right: Any) -> bool | None:
    """Evaluate ``== != < <= > >= =~ !~``.

    As in Kusto, ``==`` with a null side is false and ``!=`` true; an ordering comparison with
    a null side (or across kinds) is null, so ``where`` drops the row.
    """
    if op in ("==", "!=", "=~", "!~"):
        equal = values_equal(left, right, case_insensitive=op in ("=~", "!~"))
        return equal if op in ("==", "=~") else not equal
    if left is None or right is None or not _comparable(left, right):
        return None
    if isinstance(left, bool):
        return None
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def logical(op: str, left: Any, right: Any) -> bool | None:
    """Three-valued ``and``/``or``."""
    for value in (left, right):
        if value is not None and not isinstance(value, bool):
            raise EvaluationError(
                f"operator '{op}' expects bool operands, got {kusto_type_name(value)}"
            )
    if op == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


@functools.lru_cache(maxsize=256)
def _term_pattern(needle: str, case_sensitive: bool, mode: str = "has") -> re.Pattern[str]:
    # A term is a maximal run of letters and digits, so a match must not touch another one;
    # `hasprefix` only needs the start of a term, `hassuffix` only its end.
    at_start = mode in ("has", "hasprefix") and needle[:1].isalnum()
    at_end = mode in ("has", "hassuffix") and needle[-1:].isalnum()
    prefix = r"(?<![^\W_])" if at_start else ""
    suffix = r"(?![^\W_])" if at_end else ""
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(prefix + re.escape(needle) + suffix, flags)


@functools.lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise EvaluationError(f"invalid regular expression {pattern!r}: {error}") from None


def string_match(op: str, left: Any, right: Any) -> bool:
    """Evaluate ``contains``, ``has``, ``startswith``, ``endswith`` (``_cs`` and ``!`` forms)
    and ``matches regex``; non-string operands are compared by their string form."""
    haystack, needle = format_value(left), format_value(right)
    if op == "matches regex":
        return _regex(needle).search(haystack) is not None
    negated = op.startswith("!")
    base = op.lstrip("!")
    case_sensitive = base.endswith("_cs")
    base = base.removesuffix("_cs")
    if base in ("has", "hasprefix", "hassuffix"):
        pattern = _term_pattern(needle, case_sensitive, base)
        found = not needle or pattern.search(haystack) is not None
    else:
        if not case_sensitive:
            haystack, needle = haystack.casefold(), needle.casefold()
        if base == "contains":
            found = needle in haystack
        elif base == "startswith":
            found = haystack.startswith(needle)
        else:
            found = haystack.endswith(needle)
    return not found if negated else found


def bin_value(value: Any, size: Any) -> Any:
    """Round ``value`` down to a multiple of ``size`` (``bin``/``floor``).

    Datetimes are binned from 0001-01-01, as Kusto does, so day and week bins line up with
    the portal's.
    """
    if value is None or size is None:
        return None
    if is_number(value) and is_number(size):
        if size <= 0:
            return None
        binned = math.floor(value / size) * size
        return int(binned) if isinstance(value, int) and isinstance(size, int) else float(binned)
    if isinstance(size, timedelta):
        if size <= timedelta(0):
            return None
        if isinstance(value, datetime):
            return _BIN_ORIGIN + ((value - _BIN_ORIGIN) // size) * size
        if isinstance(value, timedelta):
            return (value // size) * size
    raise EvaluationError(f"bin() cannot round {kusto_type_name(value)} by {kusto_type_name(size)}")
