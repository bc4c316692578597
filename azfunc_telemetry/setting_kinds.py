"""The kinds of value a setting can hold: how each is read from an app setting's text, and
checked when given as an argument to ``setup()``.

Both paths give the same value or the same complaint, so a setting behaves alike wherever it
comes from (:mod:`azfunc_telemetry.config` says which setting is of which kind).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, NamedTuple

__all__ = [
    "BOOL",
    "INVOCATION_TELEMETRY",
    "INVOCATION_TELEMETRY_CHOICES",
    "NAMES",
    "POSITIVE_FLOAT",
    "POSITIVE_INT",
    "RATIO",
    "TEXT",
    "InvocationTelemetry",
    "ValueKind",
    "parse_bool",
]


class ValueKind(NamedTuple):
    """How one kind of option is read from an app setting and checked as an argument."""

    #: What a valid value is, as the messages say it.
    expected: str
    #: The value of an app setting's text; raises ``ValueError`` (without the text) when bad.
    parse: Callable[[str], Any]
    #: The value of an explicit argument; raises ``ValueError`` when of the wrong type or range.
    check: Callable[[object], Any]


def parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not true or false")


def _check_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"a {type(value).__name__}, not True or False")
    return value


def _check_positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"a {type(value).__name__}, not a whole number")
    if value <= 0:
        raise ValueError("not above 0")
    return value


def _parse_positive_int(raw: str) -> int:
    try:
        number = int(raw.strip())
    except ValueError:
        raise ValueError("not a whole number") from None
    return _check_positive_int(number)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a {type(value).__name__}, not a number")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return number


def _check_positive_float(value: object) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError("not above 0")
    return number


def _parse_float(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError("not a number") from None


def _check_ratio(value: object) -> float:
    number = _number(value)
    if not 0.0 <= number < 1.0:
        raise ValueError("not from 0 to below 1")
    return number


def _check_text(value: object) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__}, not text")
    return value


def _parse_names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in re.split(r"[,;]", raw) if name.strip())


InvocationTelemetry = Literal["auto", "request", "dependency"]
"""How each invocation is reported: decided by the host's config, a request, or a dependency."""
INVOCATION_TELEMETRY_CHOICES: tuple[InvocationTelemetry, ...] = ("auto", "request", "dependency")


def _parse_invocation_telemetry(raw: str) -> str:
    value = raw.strip().lower()
    if value not in INVOCATION_TELEMETRY_CHOICES:
        raise ValueError("not one of the choices")
    return value


def _check_invocation_telemetry(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__}, not text")
    return _parse_invocation_telemetry(value)


def _check_names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):  # "pin,otp" reads as the app setting would
        return _parse_names(value)
    if not isinstance(value, Iterable):
        raise ValueError(f"a {type(value).__name__}, not a list of names")
    names = tuple(value)
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise ValueError("a list holding something other than non-empty text")
    return tuple(name.strip() for name in names)


BOOL = ValueKind("true or false", parse_bool, _check_bool)
POSITIVE_INT = ValueKind("a whole number above 0", _parse_positive_int, _check_positive_int)
POSITIVE_FLOAT = ValueKind(
    "a number of seconds above 0",
    lambda raw: _check_positive_float(_parse_float(raw)),
    _check_positive_float,
)
RATIO = ValueKind(
    "a number from 0 (off) to below 1",
    lambda raw: _check_ratio(_parse_float(raw)),
    _check_ratio,
)
TEXT = ValueKind("text", str, _check_text)
NAMES = ValueKind("names separated by commas", _parse_names, _check_names)
INVOCATION_TELEMETRY = ValueKind(
    "auto, request or dependency", _parse_invocation_telemetry, _check_invocation_telemetry
)
