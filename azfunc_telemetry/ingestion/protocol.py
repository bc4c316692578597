"""Application Insights ingestion protocol, as spoken on ``POST /v2.1/track``.

Both the test emulator (:mod:`azfunc_telemetry.testing.emulator`) and the local sink
(:mod:`azfunc_telemetry.local.sink`) must accept exactly what the real "Breeze" endpoint accepts
and answer the way it answers, otherwise exporters behave differently against them than in Azure.
This module holds that shared contract as pure functions and types: body decoding (JSON array or
object, NDJSON, gzip), per-item validation with the service's error messages, and the response
document. :mod:`azfunc_telemetry.ingestion.server` speaks it over HTTP.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

__all__ = [
    "MAX_ITEMS_PER_BATCH",
    "MAX_ITEM_BYTES",
    "IncomingRequest",
    "IngestionError",
    "Reply",
    "SizedItems",
    "build_response",
    "check_items",
    "decode_body",
    "decompress_body",
    "error_reply",
    "json_reply",
    "parse_envelope_time",
    "parse_items",
    "parse_sized_items",
    "validate_item",
]

MAX_ITEM_BYTES = 64 * 1024
"""Largest serialized telemetry item the service accepts (64 kB)."""

MAX_ITEMS_PER_BATCH = 64_000
"""Largest number of items the service accepts in one request."""

_MIN_AGE = timedelta(milliseconds=172_800_000)  # the service's MinDateOffsetFromNow (48 h)
_MAX_LEAD = timedelta(milliseconds=7_200_000)  # the service's MaxDateOffsetFromNow (2 h)
_GZIP_MAGIC = b"\x1f\x8b"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_ISO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class IngestionError(Exception):
    """A whole request cannot be ingested (the service answers it with ``status``).

    Args:
        status: HTTP status code the endpoint answers with.
        message: Human-readable reason, sent back in the response body.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def decompress_body(body: bytes, headers: Mapping[str, str]) -> bytes:
    """Undo ``Content-Encoding`` (gzip or deflate) and return the payload bytes.

    Gzip is also recognised by its magic bytes, because some senders compress without saying so.

    Raises:
        IngestionError: 400 when the body claims or looks compressed but does not inflate.
    """
    encoding = _lower_headers(headers).get("content-encoding", "").strip().lower()
    try:
        if "gzip" in encoding or body.startswith(_GZIP_MAGIC):
            return gzip.decompress(body)
        if "deflate" in encoding:
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as error:
        raise IngestionError(400, f"Request body could not be decompressed: {error}") from None
    return body


class SizedItems(NamedTuple):
    """Items parsed from a body, with the length of each one's JSON text where known.

    Attributes:
        items: the telemetry items.
        text_lengths: characters of each item's text as sent (same order), or ``None`` when
            the body was not read item by item. Lets :func:`check_items` skip measuring items
            that cannot be near the size limit.
    """

    items: list[dict[str, Any]]
    text_lengths: list[int] | None


def parse_items(payload: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Parse an uncompressed body into telemetry items.

    Accepts a JSON array of objects, a single JSON object, or newline-delimited JSON objects
    (``application/x-json-stream``, or any body whose non-blank lines are JSON objects).

    Raises:
        IngestionError: 400 for an empty, non-UTF-8 or non-JSON body, for an entry that is not a
            JSON object, and for batches larger than :data:`MAX_ITEMS_PER_BATCH`.
    """
    return parse_sized_items(payload, headers).items


def parse_sized_items(payload: bytes, headers: Mapping[str, str]) -> SizedItems:
    """:func:`parse_items`, also saying how long each item's text was (see :class:`SizedItems`).

    Raises:
        IngestionError: as :func:`parse_items`.
    """
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestionError(400, "Request body is not valid UTF-8") from None
    if not text.strip():
        raise IngestionError(400, "Request body is empty")
    content_type = _lower_headers(headers).get("content-type", "").lower()
    lengths: list[int] | None = None
    if "json-stream" in content_type:
        parsed: Any = _parse_ndjson(text)
    else:
        split = _split_array(text)
        if split is not None:
            parsed, lengths = split
        else:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                # Senders do not always label NDJSON; fall back to reading it line by line.
                parsed = _parse_ndjson(text)
    items = parsed if isinstance(parsed, list) else [parsed]
    if len(items) > MAX_ITEMS_PER_BATCH:
        raise IngestionError(
            400, f"Batch has {len(items)} items; at most {MAX_ITEMS_PER_BATCH} are accepted"
        )
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise IngestionError(400, f"Item {index} is not a JSON object")
    return SizedItems(items, lengths)


_decoder = json.JSONDecoder()
_BLANK = re.compile(r"[ \t\n\r]*")


def _split_array(text: str) -> tuple[list[Any], list[int]] | None:
    """A JSON array read element by element, with each element's text length; ``None`` when
    the text is anything else (or not valid JSON), for :func:`json.loads` to judge."""

    def blank(text: str, position: int = 0) -> re.Match[str]:
        found = _BLANK.match(text, position)
        assert found is not None  # the pattern matches the empty string
        return found

    position = blank(text).end()
    if not text.startswith("[", position):
        return None
    position = blank(text, position + 1).end()
    values: list[Any] = []
    lengths: list[int] = []
    if text.startswith("]", position):
        end = position + 1
    else:
        try:
            while True:
                value, end = _decoder.raw_decode(text, position)
                values.append(value)
                lengths.append(end - position)
                position = blank(text, end).end()
                if text.startswith(",", position):
                    position = blank(text, position + 1).end()
                    continue
                if not text.startswith("]", position):
                    return None
                end = position + 1
                break
        except json.JSONDecodeError:
            return None
    if blank(text, end).end() != len(text):
        return None
    return values, lengths


def _parse_ndjson(text: str) -> list[Any]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise IngestionError(
                400, f"Request body is not valid JSON (line {number}: {error.msg})"
            ) from None
    return items


def decode_body(body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Decode a raw request body into telemetry items (see :func:`parse_items`).

    Raises:
        IngestionError: 400 when the body cannot be decompressed or parsed.
    """
    return parse_items(decompress_body(body, headers), headers)


def parse_envelope_time(value: str) -> datetime:
    """Parse an envelope ``time`` into an aware UTC datetime.

    A time without offset is read as UTC, because opencensus sends metric times without ``Z``.
    Fractions longer than microseconds (.NET sends seven digits) are truncated.

    Raises:
        ValueError: The text is not an ISO-8601 date-time.
    """
    match = _ISO_TIME.match(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 date-time: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if offset and offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    parsed = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
    )
    return parsed.astimezone(timezone.utc)


def _missing_field(name: str, expected: str) -> tuple[int, str]:
    return (
        400,
        f"109: Field '{name}' on type 'Envelope' is required but missing or empty. "
        f"Expected: {expected}, Actual: undefined",
    )


#: Most characters one character of an item's text becomes in the measured form (ASCII JSON
#: with ``", "`` separators): an astral character escapes to a 12-character surrogate pair.
_MEASURED_CHARS_PER_CHAR = 12
_known_ikeys: dict[tuple[str, frozenset[str]], bool] = {}


def _ikey_accepted(ikey: Any, ikeys: frozenset[str]) -> bool:
    if not isinstance(ikey, str):
        return False
    key = (ikey, ikeys)
    verdict = _known_ikeys.get(key)
    if verdict is None:
        verdict = bool(_GUID.match(ikey)) and (
            ikey in ikeys or ikey.lower() in {known.lower() for known in ikeys}
        )
        if len(_known_ikeys) >= 256:
            _known_ikeys.clear()
        _known_ikeys[key] = verdict
    return verdict


def _parse_time(value: str) -> datetime:
    """:func:`parse_envelope_time`, with a shortcut for the usual ``...HH:MM:SS.ffffffZ``."""
    if (
        len(value) == 27
        and value[10] == "T"
        and value[19] == "."
        and value[26] == "Z"
        and value.isascii()
        and value[20:26].isdigit()
    ):
        try:
            return datetime.fromisoformat(value[:26]).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return parse_envelope_time(value)


def validate_item(
    item: Mapping[str, Any],
    *,
    ikeys: frozenset[str] | None,
    now: datetime,
    text_length: int | None = None,
) -> tuple[int, str] | None:
    """Check one item the way the service does and return its error, or None when acceptable.

    Args:
        item: The decoded envelope.
        ikeys: Instrumentation keys the endpoint knows (compared case-insensitively), or None to
            accept any key.
        now: The endpoint's current time (aware); the accepted window is now-48h .. now+2h.
        text_length: characters of the item's text as sent, if known: an item too short to
            reach the size limit is not measured.

    Returns:
        ``(status, message)`` for a rejected item, using the service's wording.
    """
    if ikeys is not None and not _ikey_accepted(item.get("iKey"), ikeys):
        return 400, "Invalid instrumentation key"
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return _missing_field("name", "string")
    raw_time = item.get("time")
    if not isinstance(raw_time, str) or not raw_time:
        return _missing_field("time", "datetime")
    data = item.get("data")
    if not (type(data) is dict or isinstance(data, Mapping)) or not data:
        return _missing_field("data", "Base")
    try:
        when = _parse_time(raw_time)
    except ValueError:
        return 400, (
            f"104: Field 'time' on type 'Envelope' is not a valid date-time. Actual: {raw_time}"
        )
    reference = now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if when < reference - _MIN_AGE:
        age_ms = int((reference - when) / timedelta(milliseconds=1))
        return 400, (
            "103: Field 'time' on type 'Envelope' is older than the allowed min date. "
            f"Expected: now - {int(_MIN_AGE / timedelta(milliseconds=1))}ms, "
            f"Actual: now - {age_ms}ms"
        )
    if when > reference + _MAX_LEAD:
        lead_ms = int((when - reference) / timedelta(milliseconds=1))
        return 400, (
            "103: Field 'time' on type 'Envelope' is newer than the allowed max date. "
            f"Expected: now + {int(_MAX_LEAD / timedelta(milliseconds=1))}ms, "
            f"Actual: now + {lead_ms}ms"
        )
    if text_length is not None and text_length * _MEASURED_CHARS_PER_CHAR <= MAX_ITEM_BYTES:
        return None
    size = len(json.dumps(item, default=str).encode("utf-8"))
    if size > MAX_ITEM_BYTES:
        return 400, (
            f"Telemetry item is too large: {size} bytes; the maximum is {MAX_ITEM_BYTES} bytes"
        )
    return None


def check_items(
    items: list[dict[str, Any]],
    *,
    ikeys: frozenset[str] | None,
    now: datetime,
    text_lengths: list[int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a batch into accepted items and the service's per-item ``errors`` entries.

    ``text_lengths`` (from :func:`parse_sized_items`) spares measuring short items.

    Returns:
        ``(accepted, errors)`` where each error is ``{"index", "statusCode", "message"}``.
    """
    accepted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    if text_lengths is not None and len(text_lengths) != len(items):
        text_lengths = None
    for index, item in enumerate(items):
        length = text_lengths[index] if text_lengths is not None else None
        problem = validate_item(item, ikeys=ikeys, now=now, text_length=length)
        if problem is None:
            accepted.append(item)
        else:
            errors.append({"index": index, "statusCode": problem[0], "message": problem[1]})
    return accepted, errors


def build_response(received: int, errors: list[dict[str, Any]]) -> tuple[int, bytes]:
    """Build the service's response to a track request.

    Args:
        received: Number of items in the request.
        errors: Per-item errors, each ``{"index", "statusCode", "message"}``.

    Returns:
        The HTTP status (200 when all were accepted, 206 when some were, otherwise the status of
        the first item) and the JSON body ``{"itemsReceived", "itemsAccepted", "appId", "errors"}``.
    """
    ordered = sorted(errors, key=lambda error: int(error.get("index", 0)))
    accepted = max(0, received - len(ordered))
    if not ordered:
        status = 200
    elif accepted:
        status = 206
    else:
        status = int(ordered[0]["statusCode"])
    document = {
        "itemsReceived": received,
        "itemsAccepted": accepted,
        "appId": None,
        "errors": ordered,
    }
    return status, json.dumps(document, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class IncomingRequest:
    """One HTTP request as it arrived, before any decoding.

    Attributes:
        request_line: The raw request line, e.g. ``POST //v2.1/track HTTP/1.1``; it keeps the
            doubled slash that ``http.server`` removes from ``path``.
        path: The raw request target without its query string (leading slashes preserved).
        headers: Request headers in arrival order (later duplicates win).
        body: The body bytes as sent (still compressed when the sender compressed it).
        received_at: ``time.monotonic()`` when the request was read.
    """

    request_line: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


@dataclass(frozen=True)
class Reply:
    """What to send back for one request.

    Attributes:
        status: HTTP status code.
        body: Response body; ``Content-Length`` is always set from it.
        headers: Extra headers (e.g. ``Retry-After``, ``Content-Type``).
        drop_connection: Close the connection without sending anything.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    drop_connection: bool = False


def json_reply(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
    """Wrap a JSON body in a :class:`Reply` with the service's content type."""
    return Reply(status, body, {"Content-Type": _JSON_CONTENT_TYPE, **(headers or {})})


def error_reply(error: IngestionError) -> Reply:
    """Answer a request whose body could not be decoded at all (no item was read)."""
    document = {
        "itemsReceived": 0,
        "itemsAccepted": 0,
        "appId": None,
        "errors": [{"index": 0, "statusCode": error.status, "message": error.message}],
    }
    return json_reply(error.status, json.dumps(document, separators=(",", ":")).encode("utf-8"))
