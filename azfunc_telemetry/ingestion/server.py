"""A small threaded HTTP server that speaks the ingestion protocol on the loopback interface.

:class:`IngestionServer` is the transport shared by the test emulator and the local sink: it reads
``POST /v2.1/track`` requests (keep-alive, ``Content-Length`` or chunked bodies), applies the
contract of :mod:`azfunc_telemetry.ingestion.protocol` and hands accepted items to a callback.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from azfunc_telemetry.ingestion.protocol import (
    IncomingRequest,
    IngestionError,
    Reply,
    build_response,
    check_items,
    decompress_body,
    error_reply,
    json_reply,
    parse_sized_items,
)

__all__ = ["IngestionServer", "ItemsCallback"]

# Named for the package, which is where applications configure the endpoint's logging.
_log = logging.getLogger("azfunc_telemetry.ingestion")

_TRACK_PATH = re.compile(r"^/+v2(?:\.1)?/track/?$")


ItemsCallback = Callable[[list[dict[str, Any]], IncomingRequest], None]
"""Receives the accepted items of one request and that request (its body decompressed)."""


class _TrackHandler(BaseHTTPRequestHandler):
    """Serves the track endpoint over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm the body would wait ~40 ms
    # for the client's delayed ACK on every answer, which the real service never does.
    disable_nagle_algorithm = True
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
            items, lengths = parse_sized_items(payload, request.headers)
        except IngestionError as error:
            return error_reply(error)
        accepted, errors = check_items(
            items, ikeys=self.ikeys, now=self.clock(), text_lengths=lengths
        )
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
