"""A local ingestion endpoint that keeps telemetry in a SQLite file.

Point a function app's ``APPLICATIONINSIGHTS_CONNECTION_STRING`` at a running
:class:`TelemetrySink` and its logs, requests, dependencies, exceptions, events and metrics land
in a :class:`~azfunc_telemetry.local.store.TelemetryStore`, where ``azfunc-telemetry query``
reads them with KQL. Nothing leaves the machine: the sink listens on the loopback interface.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from azfunc_telemetry.ingestion import IncomingRequest, IngestionServer
from azfunc_telemetry.local.serving import serve_until_interrupted
from azfunc_telemetry.local.store import TelemetryStore

__all__ = ["DEFAULT_PORT", "DEFAULT_SINK_IKEY", "TelemetrySink"]

DEFAULT_PORT = 8642
"""Port the sink listens on unless told otherwise."""

DEFAULT_SINK_IKEY = "00000000-0000-0000-0000-000000000000"
"""Instrumentation key put in the connection string when the sink accepts any key."""


class TelemetrySink:
    """Receives telemetry over HTTP and stores it.

    Args:
        db_path: SQLite database file; created if absent, appended to if present.
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one.
        ikey: Only accept this instrumentation key; None accepts any well-formed envelope.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        ikey: str | None = None,
    ) -> None:
        self._ikey = ikey
        self._stored = 0
        self._lock = threading.Lock()
        self._store = TelemetryStore(db_path)
        try:
            self._server = IngestionServer(
                self._keep,
                host=host,
                port=port,
                ikeys=None if ikey is None else [ikey],
            )
        except BaseException:
            self._store.close()
            raise
        self._stopped = threading.Event()

    def _keep(self, items: list[dict[str, Any]], request: IncomingRequest) -> None:
        written = self._store.insert(items)
        with self._lock:
            self._stored += written

    @property
    def store(self) -> TelemetryStore:
        """The store telemetry is written to."""
        return self._store

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._server.port

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8642``."""
        return self._server.endpoint

    @property
    def connection_string(self) -> str:
        """Connection string that sends an app's telemetry here."""
        return self._server.connection_string(self._ikey or DEFAULT_SINK_IKEY)

    @property
    def rows_stored(self) -> int:
        """Rows written since the sink was created."""
        with self._lock:
            return self._stored

    def start(self) -> TelemetrySink:
        """Serve in the background and return self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the database. Safe to call twice."""
        self._stopped.set()
        self._server.stop()
        self._store.close()

    def __enter__(self) -> TelemetrySink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def run(self) -> None:
        """Serve until interrupted (Ctrl+C or SIGTERM), then shut down cleanly.

        Signal handlers can only be installed from the main thread; elsewhere only :meth:`stop`
        ends the loop.
        """
        serve_until_interrupted(self.start, self.stop, self._stopped)
