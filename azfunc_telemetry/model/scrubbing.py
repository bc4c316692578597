"""Making envelopes safe to send: secrets scrubbed, sizes within the service's limits.

Both run on the export thread, never in the caller's: the logging call pays nothing for them.
The service rejects or silently cuts oversized fields, so we cut first and leave a visible
marker, and a secret that reached a log message must still never leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = [
    "MAX_ITEM_BYTES",
    "MAX_MESSAGE",
    "MAX_NAME",
    "MAX_PROPERTIES",
    "MAX_PROPERTY_KEY",
    "MAX_PROPERTY_VALUE",
    "MAX_URL",
    "REDACTED",
    "SENSITIVE_NAME_WORDS",
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

#: Words that make a name (a property, a query parameter, a ``name=value`` or ``"name": value``
#: in text) hold a secret whatever its value looks like.
SENSITIVE_NAME_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "conn_str",
    "connection_string",
    "api_key",
    "access_key",
    "account_key",
    "app_key",
    "client_key",
    "encryption_key",
    "function_key",
    "host_key",
    "master_key",
    "private_key",
    "sas_key",
    "signing_key",
    "ssh_key",
    "storage_key",
    "subscription_key",
)
# The same words as patterns, ``_`` standing for any separator (or none): ``api-key``,
# ``apiKey``, ``client_secret``, ``aws_secret_access_key``, ``connStr``.
_NAME_WORDS = [
    (word[0], re.escape(word[1:]).replace("_", "[-_]?")) for word in SENSITIVE_NAME_WORDS
]


class _Rule(NamedTuple):
    """A built-in redaction rule and the cheap checks that say whether it can match."""

    #: Keeps its groups (the label, an opening quote) and replaces the rest of the match.
    pattern: str
    #: Every text the pattern matches holds one of these, lower-cased.
    hints: tuple[str, ...]
    #: ... and one of these (none: no such check).
    needs: tuple[str, ...] = ()


# They run in this order; a later one never re-redacts what an earlier one left as [REDACTED].
_BUILTIN_RULES = (
    # Private keys (PEM, OpenSSH): the whole block, or the rest of the text when it was cut.
    _Rule(
        r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(?s:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
        ("private key",),
    ),
    # Connection-string fields: App Insights, Storage, Service Bus, Event Hubs, SQL.
    _Rule(
        r"((?:InstrumentationKey|AccountKey|SharedAccess(?:Key|Signature)|P(?:assword|wd))"
        r"\s*=\s*)(?!\[REDACTED\])[^;\s\"']+",
        ("key", "signature", "password", "pwd"),
        ("=",),
    ),
    # The password of a URL: https://user:pass@host, postgresql://user:pass@host, redis://:p@h.
    _Rule(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/?#@\"']*:)[^\s/?#@\"']+(?=@)", ("@",), ("://",)),
    # Function keys and SAS signatures in URLs and query strings.
    _Rule(r"([?&;](?:code|sig)=)(?!\[REDACTED\])[^&\s\"'#]+", ("code=", "sig=")),
    _Rule(r"(\bsig=)(?!\[REDACTED\])[^&\s\"'#;]+", ("sig=",)),
    # A function key outside a URL: code=<key> (a key is long; code=200 is not one).
    _Rule(r"(\bcode\s*=\s*)(?=[A-Za-z0-9_\-/+]{20})[A-Za-z0-9_\-/+]+={0,2}", ("code",), ("=",)),
    # Headers written as "name: value", name=value or in a repr'd dict.
    _Rule(
        r"((?:x-(?:functions|api)-key|(?:proxy-)?authorization|(?:set-)?cookie|"
        r"ocp-apim-subscription-key)[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\"'\r\n,}]+",
        ("key", "auth", "cookie"),
        (":", "="),
    ),
    # Bearer tokens anywhere.
    _Rule(r"(\bBearer\s+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*", ("bearer",)),
    # JSON Web Tokens anywhere (header.payload.signature).
    _Rule(r"()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", ("eyj",)),
    # AWS access key ids (upper case by definition).
    _Rule(r"()(?-i:\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)", ("akia", "asia")),
    # GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ and fine-grained github_pat_.
    _Rule(
        r"()\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
)
# A value under a sensitive name in text: ``password=x``, ``password: x``, ``"password": "x"``,
# ``'pwd': 'x'``, ``\"token\": \"x\"`` (JSON inside JSON), ``&token=x``. Quoted, the value runs
# to its closing quote; bare, to the next space or separator. The name's own start is kept.
_NAMED_VALUE_PATTERN = (
    r"((?:{names})[\w.\-]*(?:\\?[\"'])?\s*[:=]\s*)"
    r"(?:(\\?\")(?:[^\"\\]|\\[^\"])*|(')[^']*|(?!\[REDACTED\])[^\s\"'&;,]+)"
)
#: Hints of the named-value rule: each sensitive name holds one, whatever its separators.
_NAMED_VALUE_HINTS = ("passw", "passphrase", "pwd", "secret", "token", "credential", "key", "conn")
# A property (or nested dict key) with one of these in its name is redacted whole.
_SENSITIVE_KEY_PATTERN = r"authorization|cookie|x-functions-key|sas|^key$|{names}"
#: Property names repeat on every record; their verdicts are remembered up to this many names.
_KEY_VERDICTS_MAX = 4096
#: Cleaned (name, value) pairs remembered, for string values up to this length and ints whose
#: text is no longer than the other bound (a huge int is not worth keeping).
_CLEANED_MAX = 4096
_CLEANED_VALUE_MAX = 128
_CLEANED_TEXT_MAX = 4 * _CLEANED_VALUE_MAX
#: How deep a nested ``extra`` value is searched for sensitive names before it is only text.
_NESTING_MAX = 32


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
    the match; without a group the whole match is redacted. ``sensitive_keys`` adds names
    (matched as parts of names, case aside) to :data:`SENSITIVE_NAME_WORDS`: a property, a
    key of a nested ``extra`` dict, a query parameter or a ``name=value`` in text with such a
    name has its value redacted whole.
    """

    def __init__(
        self, extra_patterns: Iterable[str] = (), *, sensitive_keys: Iterable[str] = ()
    ) -> None:
        added = [key.strip() for key in sensitive_keys if key.strip()]
        names = _alternation([*_NAME_WORDS, *((key[0], re.escape(key[1:])) for key in added)])
        named_hints = (*_NAMED_VALUE_HINTS, *(key.lower() for key in added))
        named_value = _NAMED_VALUE_PATTERN.format(names=names)
        rules = [*_BUILTIN_RULES, _Rule(named_value, named_hints, (":", "="))]
        self._rules = [
            (re.compile(rule.pattern, re.IGNORECASE), frozenset(rule.hints), rule.needs)
            for rule in rules
        ]
        hints = {hint for rule in rules for hint in rule.hints}
        self._hints = tuple(sorted(hints))
        # A hint that holds another is left out: the shorter one finds it.
        kept = [hint for hint in hints if not any(o != hint and o in hint for o in hints)]
        hint_pattern = _alternation([(hint[0], re.escape(hint[1:])) for hint in kept])
        self._hint_lower = re.compile(hint_pattern)
        self._hint_any_case = re.compile(hint_pattern, re.IGNORECASE)
        self._extra_rules: list[tuple[re.Pattern[str], bool]] = []
        for pattern in extra_patterns:
            compiled = re.compile(pattern)
            self._extra_rules.append((compiled, compiled.groups > 0))
        self._sensitive_name = re.compile(_SENSITIVE_KEY_PATTERN.format(names=names), re.IGNORECASE)
        self._key_verdicts: dict[str, bool] = {}
        #: Property names as sent (scrubbed, cut), by name.
        self._names: dict[str, str] = {}
        #: Cleaned pairs: (name, value) -> (name, text, characters in both) as sent.
        self._cleaned: dict[tuple[str, object], tuple[str, str, int]] = {}
        self._seen_once: set[tuple[str, object]] = set()

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret the rules know replaced."""
        if not text:
            return text
        # Whether a built-in rule could match, never False when one does; for ASCII text
        # lower() is exactly what case-insensitive matching compares.
        if text.isascii():
            lowered = text.lower()
            may_hold_secret = self._hint_lower.search(lowered) is not None
        else:
            lowered = text.casefold()
            may_hold_secret = self._hint_any_case.search(text) is not None
        if may_hold_secret:
            found = {hint for hint in self._hints if hint in lowered}
            for rule, hints, needs in self._rules:
                if found.isdisjoint(hints):
                    continue
                if needs and not any(need in text for need in needs):
                    continue
                text = rule.sub(_keep_labels, text)
        for rule, keep_label in self._extra_rules:
            text = rule.sub(_keep_first_group if keep_label else REDACTED, text)
        return text

    def sensitive_key(self, name: str) -> bool:
        """Whether a property called ``name`` holds a secret whatever its value looks like."""
        verdict = self._key_verdicts.get(name)
        if verdict is None:
            verdict = self._sensitive_name.search(name) is not None
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
        assembles properties from parts checks the count itself.
        """
        return self.add_measured(into, names, values)[0]

    def add_measured(
        self, into: dict[str, str], names: Iterable[Any], values: Mapping[Any, Any]
    ) -> tuple[int, int]:
        """:meth:`add_properties`, also returning how many characters the names and texts
        added hold (the size check of an envelope then need not count them again).

        Most properties repeat record after record (function name, level, logger, line, ids
        of the invocation), so a pair of a name with a short string or an int is cleaned once
        and then looked up, its length with it.
        """
        cleaned = self._cleaned
        count = chars = 0
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
                    name, text = self._clean(key, value)
                    known = (name, text, len(name) + len(text))
                    if len(text) <= _CLEANED_TEXT_MAX:
                        self._remember(pair, known)
                into[known[0]] = known[1]
                chars += known[2]
            else:
                name, text = self._clean(key, value)
                into[name] = text
                chars += len(name) + len(text)
        return count, chars

    def _remember(self, pair: tuple[str, object], known: tuple[str, str, int]) -> None:
        """Keep a cleaned pair seen for the second time: pairs seen once (an order number)
        would otherwise fill the memo and, clearing it, evict the pairs that do repeat."""
        seen = self._seen_once
        if pair in seen:
            if len(self._cleaned) >= _CLEANED_MAX:
                self._cleaned.clear()
            self._cleaned[pair] = known
        else:
            if len(seen) >= _CLEANED_MAX:
                seen.clear()
            seen.add(pair)

    def _clean(self, key: object, value: object) -> tuple[str, str]:
        """The name and text one property is sent as."""
        name = self._names.get(key) if type(key) is str else None
        if name is None:
            name = truncate(self.scrub(safe_str(key)), MAX_PROPERTY_KEY)
            if type(key) is str:
                if len(self._names) >= _KEY_VERDICTS_MAX:
                    self._names.clear()
                self._names[key] = name
        if isinstance(value, str):
            text = value
        elif isinstance(value, dict | list | tuple):
            text = _to_text(self._redact_nested(value, 0))
        else:
            text = _to_text(value)
        text = REDACTED if text and self.sensitive_key(name) else self.scrub(text)
        return name, truncate(text, MAX_PROPERTY_VALUE)

    def _redact_nested(self, value: object, depth: int) -> object:
        """A copy of a nested ``extra`` value whose sensitive-named entries are redacted."""
        if depth >= _NESTING_MAX:
            return safe_str(value)  # still scrubbed as text
        kind = type(value)
        if kind is str or kind is int or kind is float or value is None:
            return value
        if isinstance(value, dict):
            return {
                key: REDACTED
                if isinstance(key, str) and self.sensitive_key(key) and item not in (None, "")
                else self._redact_nested(item, depth + 1)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._redact_nested(item, depth + 1) for item in value]
        return value


def _alternation(words: Iterable[tuple[str, str]]) -> str:
    """A pattern matching any of ``words`` (each a first character and a pattern for the
    rest), grouped by first character: the regular expression engine then tries one or two
    branches at each position instead of all, about twice as fast."""
    by_first: dict[str, list[str]] = {}
    for first, rest in words:
        by_first.setdefault(first.lower(), []).append(rest)
    parts = []
    for first, rests in sorted(by_first.items()):
        head = re.escape(first)
        if "" in rests:
            parts.append(head)  # the character alone matches: the longer words are redundant
        else:
            parts.append(f"{head}(?:{'|'.join(sorted(set(rests)))})")
    return "|".join(parts)


def _keep_labels(match: re.Match[str]) -> str:
    """A built-in rule's replacement: its label (and opening quote, if any), then the mark."""
    return "".join(part for part in match.groups() if part) + REDACTED


def _keep_first_group(match: re.Match[str]) -> str:
    """A user pattern's replacement: its first group (the label), then the mark."""
    return match.group(1) + REDACTED


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
        import json  # on the export thread, for structured values only: off the import path

        try:
            return json.dumps(value, default=safe_str, ensure_ascii=False)
        except Exception:
            return safe_str(value)
    return safe_str(value)
