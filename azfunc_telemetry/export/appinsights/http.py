"""One keep-alive HTTP connection to the ingestion endpoint, with hard timeouts.

Standard library only, so nothing heavy is imported until the first batch is sent, and the
connection can be aborted from another thread when an exit must not wait for a hung endpoint.
"""

from __future__ import annotations

# Imported here, inside the export thread's fork-safe start, rather than by the first
# connect (host names go through the "idna" codec): a fork during that import would leave
# the child a codec module that never finishes loading.
import encodings.idna  # noqa: F401
import gzip
import http.client
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["HttpReply", "HttpSender", "TransportError"]


class TransportError(Exception):
    """The request did not get an HTTP answer (refused, reset, timed out, aborted)."""


@dataclass(frozen=True)
class HttpReply:
    """An HTTP answer: status, headers (lower-cased names) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


class HttpSender:
    """POSTs JSON bodies; reuses the connection while the endpoint keeps it open."""

    def __init__(self, timeout_s: float, *, compress: bool = True) -> None:
        self._timeout_s = timeout_s
        self._compress = compress
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int | None] | None = None
        self._lock = threading.Lock()
        #: The connection whose answer :meth:`receive` reads next.
        self._sent: http.client.HTTPConnection | None = None

    def post(self, url: str, body: bytes) -> HttpReply:
        """Send ``body`` to ``url``; raise :class:`TransportError` when no answer comes."""
        self.send(url, body)
        return self.receive()

    def send(self, url: str, body: bytes) -> None:
        """Write the request for ``body`` without waiting for the answer; see :meth:`receive`.

        Between the two the exporter builds its next batch while the endpoint works on this
        one, instead of leaving the process idle for the round trip. One request at a time.
        """
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": "azfunc-telemetry",
        }
        if self._compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn = self._connection(origin)
        try:
            conn.request("POST", path, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self.abort()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        self._sent = conn

    def receive(self) -> HttpReply:
        """The answer to the request :meth:`send` wrote; :class:`TransportError` if none comes."""
        conn, self._sent = self._sent, None
        if conn is None:
            raise TransportError("no request is waiting for an answer")
        try:
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.abort()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            self.abort()
        return HttpReply(response.status, reply_headers, data)

    def _connection(self, origin: tuple[str, str, int | None]) -> http.client.HTTPConnection:
        with self._lock:
            if self._conn is not None and self._origin == origin:
                return self._conn
            if self._conn is not None:
                self._conn.close()
            scheme, host, port = origin
            factory = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            self._conn = factory(host, port, timeout=self._timeout_s)
            self._origin = origin
            return self._conn

    def abort(self) -> None:
        """Close the connection now; a request blocked on it in another thread fails at once."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        conn.close()
