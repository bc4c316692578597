"""Making envelopes safe to send: secrets scrubbed, sizes within the service's limits.

Both run on the export thread, never in the caller's: the logging call pays nothing for them.
The service rejects or silently cuts oversized fields, so we cut first and leave a visible
marker, and a secret that reached a log message must still never leave the process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_ITEM_BYTES",
    "MAX_MESSAGE",
    "MAX_NAME",
    "MAX_PROPERTIES",
    "MAX_PROPERTY_KEY",
    "MAX_PROPERTY_VALUE",
    "MAX_URL",
    "REDACTED",
    "Scrubber",
    "safe_str",
    "truncate",
]

MAX_MESSAGE = 32768
MAX_PROPERTY_KEY = 150
MAX_PROPERTY_VALUE = 8192
MAX_PROPERTIES = 200
MAX_NAME = 1024
MAX_URL = 2048
MAX_ITEM_BYTES = 64 * 1024
REDACTED = "[REDACTED]"

# Each pattern keeps its first group (the label) and replaces the rest of the match.
_BUILTIN_PATTERNS = (
    # Connection-string fields: App Insights, Storage, Service Bus, Event Hubs, SQL.
    r"((?:InstrumentationKey|AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)\s*=\s*)"
    r"[^;\s\"']+",
    # Function keys and SAS signatures in URLs and query strings.
    r"([?&;](?:code|sig)=)[^&\s\"'#]+",
    r"(\bsig=)[^&\s\"'#;]+",
    # Headers written as "name: value", name=value or in a repr'd dict.
    r"((?:x-functions-key|authorization|proxy-authorization|cookie|set-cookie|x-api-key|"
    r"ocp-apim-subscription-key)[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+",
    # Bearer tokens anywhere.
    r"(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*",
    # JSON Web Tokens anywhere (header.payload.signature).
    r"()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
)
_SENSITIVE_KEY = re.compile(
    r"(authorization|cookie|password|passwd|secret|token|x-functions-key|api[-_]?key|"
    r"connection[-_]?string|access[-_]?key|sas)",
    re.IGNORECASE,
)
# Every text a built-in pattern matches contains one of these words, case aside. Searching the
# lower-cased text for them is several times faster than a case-insensitive search, so most
# values (ids, names, numbers) are cleared with one cheap look.
_HINT_WORDS = (
    "key",
    "sig=",
    "code=",
    "auth",
    "cookie",
    "bearer",
    "eyj",
    "password",
    "pwd",
    "secret",
    "signature",
)
_HINT_LOWER = re.compile("|".join(re.escape(word) for word in _HINT_WORDS))
_HINT_ANY_CASE = re.compile(_HINT_LOWER.pattern, re.IGNORECASE)
#: Property names repeat on every record; their verdicts are remembered up to this many names.
_KEY_VERDICTS_MAX = 4096
#: Cleaned (name, value) pairs remembered, for string values up to this length and ints whose
#: text is no longer than the other bound (a huge int is not worth keeping).
_CLEANED_MAX = 4096
_CLEANED_VALUE_MAX = 128
_CLEANED_TEXT_MAX = 4 * _CLEANED_VALUE_MAX


def safe_str(value: object) -> str:
    """``str(value)`` that never raises, for objects whose ``__str__``/``__repr__`` are broken."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with a marker that says how much was cut."""
    if len(text) <= limit:
        return text
    marker = ""
    keep = limit
    while True:  # the count's digits change the marker's length: settle on a fixed point
        marker = f"...[truncated {len(text) - keep} chars]"
        settled = max(0, limit - len(marker))
        if settled == keep:
            break
        keep = settled
    return text[:keep] + marker[: limit - keep]


class Scrubber:
    """Replaces secrets with ``[REDACTED]``; users may add their own regular expressions.

    A user pattern with a capturing group keeps the group (the label) and redacts the rest of
    the match; without a group the whole match is redacted.
    """

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._rules: list[tuple[re.Pattern[str], bool]] = [
            (re.compile(p, re.IGNORECASE), True) for p in _BUILTIN_PATTERNS
        ]
        self._extra_rules: list[tuple[re.Pattern[str], bool]] = []
        for pattern in extra_patterns:
            compiled = re.compile(pattern)
            self._extra_rules.append((compiled, compiled.groups > 0))
        self._key_verdicts: dict[str, bool] = {}
        self._cleaned: dict[tuple[str, str], tuple[str, str]] = {}

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret the rules know replaced."""
        if not text:
            return text
        # Whether a built-in pattern could match, never False when one does; for ASCII text
        # lower() is exactly what case-insensitive matching compares.
        if text.isascii():
            may_hold_secret = _HINT_LOWER.search(text.lower()) is not None
        else:
            may_hold_secret = _HINT_ANY_CASE.search(text) is not None
        if may_hold_secret:
            text = self._apply(self._rules, text)
        if self._extra_rules:
            text = self._apply(self._extra_rules, text)
        return text

    @staticmethod
    def _apply(rules: list[tuple[re.Pattern[str], bool]], text: str) -> str:
        for rule, keep_label in rules:
            text = rule.sub(
                (lambda m: m.group(1) + REDACTED) if keep_label else REDACTED,
                text,
            )
        return text

    def _sensitive_key(self, name: str) -> bool:
        """Whether a property called ``name`` holds a secret whatever its value looks like."""
        verdict = self._key_verdicts.get(name)
        if verdict is None:
            verdict = _SENSITIVE_KEY.search(name) is not None
            if len(self._key_verdicts) >= _KEY_VERDICTS_MAX:
                self._key_verdicts.clear()
            self._key_verdicts[name] = verdict
        return verdict

    def properties(self, props: Mapping[str, Any]) -> dict[str, str]:
        """Scrub, stringify and cut custom dimensions to the service's limits."""
        result: dict[str, str] = {}
        if len(props) <= MAX_PROPERTIES:
            self.add_properties(result, props, props)  # the common case: nothing to drop
            return result
        dropped = 0
        for key, value in props.items():
            if len(result) >= MAX_PROPERTIES:
                dropped += 1
                continue
            self.add_properties(result, (key,), {key: value})
        if dropped:
            result["_truncated_properties"] = str(dropped)
        return result

    def add_properties(
        self, into: dict[str, str], names: Iterable[Any], values: Mapping[Any, Any]
    ) -> int:
        """Clean the properties ``names`` of ``values`` into ``into``; returns how many.

        No limit on their number is applied: :meth:`properties` does that, and a caller that
        assembles properties from parts checks the count itself. Most properties repeat record
        after record (function name, level, logger, line, ids of the invocation), so a pair of
        a name with a short string or an int is cleaned once and then looked up.
        """
        cleaned = self._cleaned
        count = 0
        for key in names:
            value = values[key]
            count += 1
            kind = type(value)
            # Exact types only: True == 1 == 1.0, but their texts differ.
            if type(key) is str and (
                kind is int or (kind is str and len(value) <= _CLEANED_VALUE_MAX)
            ):
                pair = (key, value)
                known = cleaned.get(pair)
                if known is None:
                    known = self._clean(key, value)
                    if len(known[1]) <= _CLEANED_TEXT_MAX:
                        if len(cleaned) >= _CLEANED_MAX:
                            cleaned.clear()
                        cleaned[pair] = known
            else:
                known = self._clean(key, value)
            into[known[0]] = known[1]
        return count

    def _clean(self, key: object, value: object) -> tuple[str, str]:
        """The name and text one property is sent as."""
        name = truncate(safe_str(key), MAX_PROPERTY_KEY)
        text = value if isinstance(value, str) else _to_text(value)
        text = REDACTED if text and self._sensitive_key(name) else self.scrub(text)
        return name, truncate(text, MAX_PROPERTY_VALUE)


def _to_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, dict | list | tuple):
        try:
            return json.dumps(value, default=safe_str, ensure_ascii=False)
        except Exception:
            return safe_str(value)
    return safe_str(value)
