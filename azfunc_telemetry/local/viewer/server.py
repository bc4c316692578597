"""``azfunc-telemetry ui``: a local web page over the telemetry store.

A small stdlib HTTP server that serves the page's static files (package data, nothing fetched at
run time) and a JSON API the page polls: the recent invocations, one invocation's detail, the
store's change marker and the KQL box's answers. It is safe by default:

- it binds 127.0.0.1, and refuses any other interface unless told ``allow_remote``;
- it answers only requests whose ``Host`` names the loopback address it serves (a page on another
  site cannot reach it by rebinding a DNS name to 127.0.0.1);
- it reads the store over read-only SQLite connections;
- every response carries a strict Content-Security-Policy (scripts and styles from the page's
  own files only, no inline code, no plugins, no framing), and the page puts data into the
  document as text, never as markup.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azfunc_telemetry.local.serving import serve_until_interrupted
from azfunc_telemetry.local.viewer.queries import run_viewer_query
from azfunc_telemetry.local.viewer.reader import (
    StoreUnavailableError,
    load_invocation_detail,
    load_invocations,
    store_version,
)

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_UI_PORT",
    "RemoteBindRefusedError",
    "ViewerServer",
    "is_loopback",
]

DEFAULT_UI_PORT = 8643
"""Port the viewer listens on unless told otherwise (the sink's is 8642)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Sent with every response: the page runs only its own files and talks only to its server."""

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/viewer.css": ("viewer.css", "text/css; charset=utf-8"),
    "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
    "/timeline.js": ("timeline.js", "text/javascript; charset=utf-8"),
    "/chart.js": ("chart.js", "text/javascript; charset=utf-8"),
    "/dom.js": ("dom.js", "text/javascript; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
_MAX_BODY = 200_000
_log = logging.getLogger("azfunc_telemetry.viewer")


class RemoteBindRefusedError(ValueError):
    """A non-loopback interface was asked for without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _static_bytes(name: str) -> bytes:
    return (
        resources.files("azfunc_telemetry.local.viewer")
        .joinpath("static")
        .joinpath(name)
        .read_bytes()
    )


class _Handler(BaseHTTPRequestHandler):
    server: _ViewerHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "azfunc-telemetry-ui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a browser polling every two seconds would flood the terminal."""

    def _send(self, status: int, body: bytes, content_type: str, *, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "max-age=60" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, document: Any) -> None:
        body = json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8")

    def _host_allowed(self) -> bool:
        if self.server.allow_remote:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)

    def do_HEAD(self) -> None:
        """Same as GET, without the body."""
        self.do_GET()

    def do_GET(self) -> None:
        """Static files and the read-only API."""
        if not self._host_allowed():
            self._send_json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "unexpected Host header"})
            return
        url = urlsplit(self.path)
        if url.path in _STATIC:
            name, content_type = _STATIC[url.path]
            self._send(HTTPStatus.OK, _static_bytes(name), content_type)
            return
        query = parse_qs(url.query)
        path = self.server.db_path
        try:
            if url.path == "/api/version":
                self._send_json(HTTPStatus.OK, {"version": store_version(path)})
            elif url.path == "/api/invocations":
                invocations = load_invocations(path, limit=self.server.limit)
                self._send_json(
                    HTTPStatus.OK,
                    {
                        "version": store_version(path),
                        "invocations": [item.to_json() for item in invocations],
                    },
                )
            elif url.path == "/api/invocation":
                wanted = query.get("id", [""])[0]
                detail = load_invocation_detail(path, wanted)
                if detail is None:
                    self._send_json(HTTPStatus.NOT_FOUND, {"error": "no such invocation"})
                else:
                    self._send_json(HTTPStatus.OK, detail.to_json())
            elif url.path == "/api/info":
                self._send_json(HTTPStatus.OK, {"db": os.path.abspath(path)})
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        except StoreUnavailableError as error:
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
        except Exception as error:  # a bug must not take the viewer down
            _log.exception("viewer request failed")
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": repr(error)})

    def do_POST(self) -> None:
        """The KQL box: ``POST /api/query`` with ``{"query": "..."}`` as JSON.

        Requiring a JSON body makes a cross-site form unable to send it, and a cross-site script
        would first need a CORS preflight, which this server never grants.
        """
        if not self._host_allowed():
            self._send_json(HTTPStatus.MISDIRECTED_REQUEST, {"error": "unexpected Host header"})
            return
        if urlsplit(self.path).path != "/api/query":
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if content_type != "application/json" or not 0 < length <= _MAX_BODY:
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON body"})
            return
        try:
            document = json.loads(self.rfile.read(length))
            text = document["query"]
            if not isinstance(text, str):
                raise TypeError("query must be text")
        except (ValueError, KeyError, TypeError) as error:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {error}"})
            return
        try:
            answer = run_viewer_query(self.server.db_path, text)
        except Exception as error:  # a bug in the engine must not take the viewer down
            _log.exception("viewer query failed")
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": repr(error)})
            return
        self._send_json(HTTPStatus.OK, answer.to_json())


class _ViewerHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], db_path: str, *, allow_remote: bool, limit: int
    ) -> None:
        self.db_path = db_path
        self.allow_remote = allow_remote
        self.limit = limit
        super().__init__(address, _Handler)


class ViewerServer:
    """Serves the viewer page for the store at ``db_path``.

    Args:
        db_path: The SQLite store (as the sink writes it); it need not exist yet.
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        allow_remote: Permit a non-loopback ``host``. Anyone who can reach it then reads every
            log message in the store.
        limit: Most recent invocations the page is sent.

    Raises:
        RemoteBindRefusedError: ``host`` is not loopback and ``allow_remote`` is False.
        OSError: The address cannot be bound.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_UI_PORT,
        allow_remote: bool = False,
        limit: int = 2000,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise RemoteBindRefusedError(
                f"refusing to serve telemetry on {host}: it is not a loopback address "
                "(pass allow_remote / --allow-remote to do it anyway)"
            )
        self._httpd = _ViewerHTTPServer(
            (host, port), os.fspath(db_path), allow_remote=allow_remote, limit=limit
        )
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8643/``."""
        host = str(self._httpd.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    def start(self) -> ViewerServer:
        """Serve in a background thread and return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="azfunc-telemetry-ui",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        self._stopped.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self) -> None:
        """Serve until interrupted (Ctrl+C or SIGTERM)."""
        serve_until_interrupted(self.start, self.stop, self._stopped)
