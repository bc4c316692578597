"""Application Insights ingestion protocol, as spoken on ``POST /v2.1/track``.

Both the test emulator (:mod:`azfunc_telemetry.testing.emulator`) and the local sink
(:mod:`azfunc_telemetry.local.sink`) must accept exactly what the real "Breeze" endpoint accepts
and answer the way it answers, otherwise exporters behave differently against them than in Azure.
This module holds that shared contract: body decoding (JSON array or object, NDJSON, gzip),
per-item validation with the service's error messages, the response document, and
:class:`IngestionServer`, a small threaded HTTP server that speaks it on the loopback interface.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import re
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "MAX_ITEMS_PER_BATCH",
    "MAX_ITEM_BYTES",
    "IncomingRequest",
    "IngestionError",
    "IngestionServer",
    "ItemsCallback",
    "Reply",
    "build_response",
    "check_items",
    "decode_body",
    "decompress_body",
    "error_reply",
    "json_reply",
    "parse_envelope_time",
    "parse_items",
    "validate_item",
]

_log = logging.getLogger(__name__)

MAX_ITEM_BYTES = 64 * 1024
"""Largest serialized telemetry item the service accepts (64 kB)."""

MAX_ITEMS_PER_BATCH = 64_000
"""Largest number of items the service accepts in one request."""

_MIN_AGE = timedelta(milliseconds=172_800_000)  # the service's MinDateOffsetFromNow (48 h)
_MAX_LEAD = timedelta(milliseconds=7_200_000)  # the service's MaxDateOffsetFromNow (2 h)
_GZIP_MAGIC = b"\x1f\x8b"
_TRACK_PATH = re.compile(r"^/+v2(?:\.1)?/track/?$")
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


def parse_items(payload: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Parse an uncompressed body into telemetry items.

    Accepts a JSON array of objects, a single JSON object, or newline-delimited JSON objects
    (``application/x-json-stream``, or any body whose non-blank lines are JSON objects).

    Raises:
        IngestionError: 400 for an empty, non-UTF-8 or non-JSON body, for an entry that is not a
            JSON object, and for batches larger than :data:`MAX_ITEMS_PER_BATCH`.
    """
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise IngestionError(400, "Request body is not valid UTF-8") from None
    if not text.strip():
        raise IngestionError(400, "Request body is empty")
    content_type = _lower_headers(headers).get("content-type", "").lower()
    if "json-stream" in content_type:
        parsed: Any = _parse_ndjson(text)
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
    return items


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


def validate_item(
    item: Mapping[str, Any], *, ikeys: frozenset[str] | None, now: datetime
) -> tuple[int, str] | None:
    """Check one item the way the service does and return its error, or None when acceptable.

    Args:
        item: The decoded envelope.
        ikeys: Instrumentation keys the endpoint knows (compared case-insensitively), or None to
            accept any key.
        now: The endpoint's current time (aware); the accepted window is now-48h .. now+2h.

    Returns:
        ``(status, message)`` for a rejected item, using the service's wording.
    """
    if ikeys is not None:
        ikey = item.get("iKey")
        if (
            not isinstance(ikey, str)
            or not _GUID.match(ikey)
            or (ikey not in ikeys and ikey.lower() not in {key.lower() for key in ikeys})
        ):
            return 400, "Invalid instrumentation key"
    name = item.get("name")
    if not isinstance(name, str) or not name:
        return _missing_field("name", "string")
    raw_time = item.get("time")
    if not isinstance(raw_time, str) or not raw_time:
        return _missing_field("time", "datetime")
    data = item.get("data")
    if not isinstance(data, Mapping) or not data:
        return _missing_field("data", "Base")
    try:
        when = parse_envelope_time(raw_time)
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
    size = len(json.dumps(item, default=str).encode("utf-8"))
    if size > MAX_ITEM_BYTES:
        return 400, (
            f"Telemetry item is too large: {size} bytes; the maximum is {MAX_ITEM_BYTES} bytes"
        )
    return None


def check_items(
    items: list[dict[str, Any]], *, ikeys: frozenset[str] | None, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a batch into accepted items and the service's per-item ``errors`` entries.

    Returns:
        ``(accepted, errors)`` where each error is ``{"index", "statusCode", "message"}``.
    """
    accepted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        problem = validate_item(item, ikeys=ikeys, now=now)
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


ItemsCallback = Callable[[list[dict[str, Any]], IncomingRequest], None]
"""Receives the accepted items of one request and that request (its body decompressed)."""


class _TrackHandler(BaseHTTPRequestHandler):
    """Serves the track endpoint over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    server_version = "azfunc-telemetry-ingestion"
    sys_version = ""
    server: IngestionServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log belongs to the caller, not to stderr."""

    def do_POST(self) -> None:
        """Read the body and let the server decide the answer."""
        body = self._read_body()
        if body is None:
            return
        request = IncomingRequest(
            request_line=self.requestline,
            path=self._raw_path(),
            headers=dict(self.headers.items()),
            body=body,
            received_at=time.monotonic(),
        )
        if _TRACK_PATH.match(request.path):
            reply = self.server.handle_track(request)
        else:
            reply = json_reply(404, b'{"error":"Not Found"}')
        self._send(reply)

    def _raw_path(self) -> str:
        # self.path has leading "//" collapsed; the request line keeps what the client sent.
        parts = self.requestline.split(" ")
        target = parts[1] if len(parts) >= 2 else self.path
        if "://" in target:
            return urlsplit(target).path or "/"
        return target.split("?", 1)[0]

    def _refuse_method(self) -> None:
        if self._read_body() is None:
            return
        if _TRACK_PATH.match(self._raw_path()):
            self._send(json_reply(405, b'{"error":"Method Not Allowed"}', {"Allow": "POST"}))
        else:
            self._send(json_reply(404, b'{"error":"Not Found"}'))

    def do_GET(self) -> None:
        """Only POST is served."""
        self._refuse_method()

    def do_HEAD(self) -> None:
        """Only POST is served."""
        self._refuse_method()

    def do_PUT(self) -> None:
        """Only POST is served."""
        self._refuse_method()

    def do_DELETE(self) -> None:
        """Only POST is served."""
        self._refuse_method()

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.close_connection = True
            self._send(json_reply(400, b'{"error":"Invalid Content-Length"}'))
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers carry nothing the endpoint uses
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        if reply.drop_connection:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class IngestionServer(ThreadingHTTPServer):
    """A loopback Application Insights ingestion endpoint.

    Each connection is served on its own daemon thread with HTTP/1.1 keep-alive, so pooled
    exporters reuse connections as they would against Azure. Accepted items go to ``on_items``;
    subclasses change the answers by overriding :meth:`handle_track`.

    Args:
        on_items: Called with the accepted items of each request. If it raises, the request is
            answered 500 so the sender keeps its data.
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        ikeys: Instrumentation keys to accept, or None to accept any key.
        clock: Source of "now" for the time-window check.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        on_items: ItemsCallback | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ikeys: Iterable[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.on_items = on_items
        self.ikeys = None if ikeys is None else frozenset(key.lower() for key in ikeys)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._serve_thread: threading.Thread | None = None
        self._closed = False
        super().__init__((host, port), _TrackHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does for ``server_name``."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self.server_port

    @property
    def endpoint(self) -> str:
        """Base URL of the endpoint, e.g. ``http://127.0.0.1:49152``."""
        host = f"[{self.server_name}]" if ":" in self.server_name else self.server_name
        return f"http://{host}:{self.server_port}"

    def connection_string(self, ikey: str) -> str:
        """Connection string pointing an exporter here (trailing slash, as the portal gives)."""
        return f"InstrumentationKey={ikey};IngestionEndpoint={self.endpoint}/"

    def handle_track(self, request: IncomingRequest) -> Reply:
        """Decode, validate and hand over the items of one track request."""
        try:
            payload = decompress_body(request.body, request.headers)
            items = parse_items(payload, request.headers)
        except IngestionError as error:
            return error_reply(error)
        accepted, errors = check_items(items, ikeys=self.ikeys, now=self.clock())
        if accepted and self.on_items is not None:
            try:
                self.on_items(accepted, replace(request, body=payload))
            except Exception:
                _log.exception("storing %d telemetry items failed", len(accepted))
                errors = [
                    {"index": index, "statusCode": 500, "message": "Internal Server Error"}
                    for index in range(len(items))
                ]
        status, body = build_response(len(items), errors)
        return json_reply(status, body)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a tracked daemon thread so :meth:`stop` can bound its wait."""
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"ingestion-{self.server_port}-connection",
            daemon=True,
        )
        with self._lock:
            self._workers.add(worker)
            self._connections.add(request)
        worker.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log instead of printing: vanished clients at debug level, real faults as errors."""
        error = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(error, OSError) else logging.ERROR
        _log.log(level, "error while serving %s", client_address, exc_info=True)

    def start(self) -> IngestionServer:
        """Serve on a background daemon thread and return self."""
        if self._serve_thread is None:
            self._serve_thread = threading.Thread(
                target=self.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ingestion-{self.server_port}",
                daemon=True,
            )
            self._serve_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, cut open connections and wait (bounded) for their threads.

        Safe to call more than once and on a server that was never started.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self.closing.set()
        if self._serve_thread is not None:
            self.shutdown()
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()
        with self._lock:
            connections = list(self._connections)
            workers = list(self._workers)
        for connection in connections:
            # Idle keep-alive connections block their thread in recv(); shutting the socket
            # down wakes it so the thread can finish.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> IngestionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
