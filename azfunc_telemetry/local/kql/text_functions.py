"""String functions beyond the basics: trimming, regular-expression replace and extraction.

Kusto's regular expressions are RE2; Python's ``re`` accepts the same syntax for the patterns
people write in queries (classes, groups, anchors, ``\\d``/``\\w``), so patterns are passed
through. Results are strings, never null: no match gives ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .errors import EvaluationError
from .functions import register, unary_function
from .values import format_value

__all__: list[str] = []


def _compile(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(format_value(pattern))
    except re.error as error:
        raise EvaluationError(f"invalid regular expression {pattern!r}: {error}") from None


def _trim(pattern: Any, text: Any, *, start: bool, end: bool) -> str:
    value = format_value(text)
    regex = format_value(pattern)
    if start:
        value = re.sub(f"^(?:{regex})+", "", value) if regex else value
    if end:
        value = re.sub(f"(?:{regex})+$", "", value) if regex else value
    return value


@register("trim", min_args=2)
def _trim_both(args: Sequence[Any], _now: datetime) -> Any:
    _compile(args[0])
    return _trim(args[0], args[1], start=True, end=True)


@register("trim_start", min_args=2)
def _trim_start(args: Sequence[Any], _now: datetime) -> Any:
    _compile(args[0])
    return _trim(args[0], args[1], start=True, end=False)


@register("trim_end", min_args=2)
def _trim_end(args: Sequence[Any], _now: datetime) -> Any:
    _compile(args[0])
    return _trim(args[0], args[1], start=False, end=True)


def _rewrite(rewrite: Any) -> str:
    # Kusto writes group references as \1 (and $1 in some samples); Python wants \g<1>.
    return re.sub(r"[\\$](\d+)", r"\\g<\1>", format_value(rewrite))


@register("replace_regex", min_args=3)
def _replace_regex(args: Sequence[Any], _now: datetime) -> Any:
    return _compile(args[1]).sub(_rewrite(args[2]), format_value(args[0]))


@register("replace", min_args=3)
def _replace_legacy(args: Sequence[Any], _now: datetime) -> Any:
    # The legacy form takes (regex, rewrite, text).
    return _compile(args[0]).sub(_rewrite(args[1]), format_value(args[2]))


@register("extract_all", min_args=2, max_args=3)
def _extract_all(args: Sequence[Any], _now: datetime) -> Any:
    regex = _compile(args[0])
    text = format_value(args[-1])
    matches = list(regex.finditer(text))
    if not matches:
        return None
    if regex.groups == 0:
        return [match.group(0) for match in matches]
    if regex.groups == 1:
        return [match.group(1) or "" for match in matches]
    return [[group or "" for group in match.groups()] for match in matches]


@register("countof", min_args=2, max_args=3)
def _countof(args: Sequence[Any], _now: datetime) -> Any:
    text, search = format_value(args[0]), format_value(args[1])
    if len(args) > 2 and format_value(args[2]) == "regex":
        return len(_compile(search).findall(text))
    if not search:
        return 0
    # Plain text matches may overlap: countof("aaaa", "aa") is 3.
    return sum(1 for start in range(len(text)) if text.startswith(search, start))


@unary_function("reverse")
def _reverse(value: Any) -> Any:
    return format_value(value)[::-1]


@register("has_any_index", min_args=2)
def _has_any_index(args: Sequence[Any], _now: datetime) -> Any:
    text = format_value(args[0]).casefold()
    items = args[1] if isinstance(args[1], list) else [args[1]]
    for position, item in enumerate(items):
        if format_value(item).casefold() in text:
            return position
    return -1


@unary_function("parse_url")
def _parse_url(value: Any) -> Any:
    """The parts of a URL as a bag, with the names Kusto uses."""
    from urllib.parse import parse_qsl, urlsplit

    text = format_value(value)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return {}
    if not parts.scheme:
        return {}
    return {
        "Scheme": parts.scheme,
        "Host": parts.hostname or "",
        "Port": "" if port is None else str(port),
        "Path": parts.path,
        "Username": parts.username or "",
        "Password": parts.password or "",
        "Query Parameters": dict(parse_qsl(parts.query, keep_blank_values=True)),
        "Fragment": parts.fragment,
    }


@unary_function("url_decode")
def _url_decode(value: Any) -> Any:
    from urllib.parse import unquote_plus

    return unquote_plus(format_value(value))


@unary_function("url_encode", "url_encode_component")
def _url_encode(value: Any) -> Any:
    from urllib.parse import quote

    return quote(format_value(value), safe="")


@unary_function("base64_encode_tostring")
def _base64_encode(value: Any) -> Any:
    import base64

    return base64.b64encode(format_value(value).encode("utf-8")).decode("ascii")


@unary_function("base64_decode_tostring")
def _base64_decode(value: Any) -> Any:
    import base64
    import binascii

    try:
        return base64.b64decode(format_value(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
