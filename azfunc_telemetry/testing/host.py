"""What the Functions host writes to Application Insights per invocation, for local runs.

In Azure the host writes one ``requests`` row per invocation (category ``Host.Results``): its id
is the host's span (the one the worker receives in ``traceparent``), its duration covers dispatch
and the wait for a thread, and its ``customDimensions.InvocationId`` names the invocation. The
portal lists invocations from these rows. :class:`HostTelemetry` writes the same rows from a local
dispatcher, through the ingestion endpoint the library uses, so a local store has Azure's shape:
the host's rows and the library's, side by side.

It sends only to a loopback endpoint: writing host rows into a real Application Insights
resource would invent invocations the real host never saw.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import urllib.request
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..connection import ConnectionInfo, parse_connection_string, track_url
from ..export.appinsights.envelope import format_duration, format_time

__all__ = ["HOST_RESULTS_CATEGORY", "HostRequest", "HostTelemetry", "host_result_code"]

#: The category of the host's per-invocation request rows.
HOST_RESULTS_CATEGORY = "Host.Results"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SEND_TIMEOUT_S = 5.0
_log = logging.getLogger("azfunc_telemetry.testing.host")
#: Straight to the loopback endpoint, never through a proxy named in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HostRequest(NamedTuple):
    """One invocation as the host saw it."""

    function_name: str
    invocation_id: str
    operation_id: str
    #: The host's span id: the request row's id, and the parent the worker is handed.
    host_span_id: str
    #: ``time.time()`` when the host received the trigger.
    start_time: float
    duration_ns: int
    success: bool
    result_code: str
    url: str | None = None


def host_result_code(result: Any, error: BaseException | None, is_http: bool) -> str:
    """The ``resultCode`` the host reports: the HTTP status (500 when the function raised) for
    HTTP triggers, ``0`` on success and ``1`` on failure for the others."""
    if is_http:
        if error is not None:
            return "500"
        status = getattr(result, "status_code", None)
        return str(status) if type(status) is int else "200"
    return "1" if error is not None else "0"


class HostTelemetry:
    """Writes the host's ``Host.Results`` request rows to a loopback ingestion endpoint.

    Rows are sent in the background, batched, one attempt each; :meth:`flush` waits until every
    row recorded so far was sent. The destination is, in this order, ``connection_string``, the
    one :func:`azfunc_telemetry.setup` is using, then ``APPLICATIONINSIGHTS_CONNECTION_STRING``,
    looked up when a batch is sent; without one, or when it is not on this machine, rows are
    discarded (and counted in :attr:`discarded`).

    Args:
        connection_string: where to send; defaults as above.
    """

    def __init__(self, connection_string: str | None = None) -> None:
        self._explicit = connection_string
        self._pending: list[dict[str, Any]] = []
        self._in_flight = 0
        self._closed = False
        self._changed = threading.Condition()
        self.sent = 0
        self.discarded = 0
        self._thread = threading.Thread(target=self._run, name="host-telemetry", daemon=True)
        self._thread.start()

    def record(self, request: HostRequest) -> None:
        """Queue the request row of one finished invocation."""
        envelope = self._envelope(request)
        with self._changed:
            self._pending.append(envelope)
            self._changed.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row recorded so far was sent (or discarded); False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._pending and not self._in_flight, timeout_s
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is pending, then stop the sender."""
        self.flush(timeout_s)
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout_s)

    # -- sending -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
            try:
                self._send(batch)
            finally:
                with self._changed:
                    self._in_flight = 0
                    self._changed.notify_all()

    def _send(self, batch: list[dict[str, Any]]) -> None:
        connection = self._destination()
        if connection is None:
            self.discarded += len(batch)
            return
        for envelope in batch:
            envelope["iKey"] = connection.instrumentation_key
        request = urllib.request.Request(
            track_url(connection.ingestion_endpoint),
            data=json.dumps(batch).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with _DIRECT.open(request, timeout=_SEND_TIMEOUT_S) as reply:
                reply.read()
            self.sent += len(batch)
        except Exception as error:  # whatever the endpoint did, the sender keeps running
            self.discarded += len(batch)
            _log.warning("the local host's request rows could not be sent: %s", error)

    def _destination(self) -> ConnectionInfo | None:
        connection = self._connection()
        if connection is None:
            return None
        host = urlsplit(connection.ingestion_endpoint).hostname or ""
        if host not in _LOOPBACK_HOSTS:
            _log.warning(
                "not writing the local host's request rows to %s: only a loopback endpoint "
                "receives them",
                host,
            )
            return None
        return connection

    def _connection(self) -> ConnectionInfo | None:
        raw = self._explicit
        if raw is None:
            from .. import runtime

            active = runtime.get_runtime()
            if active is not None and active.config.connection is not None:
                return active.config.connection
            raw = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
        if not raw:
            return None
        try:
            return parse_connection_string(raw)
        except ValueError:
            return None

    # -- the row -------------------------------------------------------------------------

    def _envelope(self, request: HostRequest) -> dict[str, Any]:
        role, instance = _role()
        data: dict[str, Any] = {
            "ver": 2,
            "id": request.host_span_id,
            "name": request.function_name,
            "duration": format_duration(request.duration_ns),
            "responseCode": request.result_code,
            "success": request.success,
            "properties": {
                "InvocationId": request.invocation_id,
                "Category": HOST_RESULTS_CATEGORY,
                "LogLevel": "Information",
                "FullName": f"Functions.{request.function_name}",
                "TriggerReason": "This function was programmatically called via the host APIs.",
                "ProcessId": str(os.getpid()),
                "HostInstanceId": _HOST_INSTANCE_ID,
            },
        }
        if request.url:
            data["url"] = request.url
        return {
            "iKey": "",
            "time": format_time(request.start_time),
            "name": "Microsoft.ApplicationInsights.Request",
            "tags": {
                "ai.cloud.role": role,
                "ai.cloud.roleInstance": instance,
                "ai.operation.id": request.operation_id,
                "ai.operation.name": request.function_name,
                "ai.internal.sdkVersion": f"azurefunctions-local: {platform.python_version()}",
            },
            "data": {"baseType": "RequestData", "baseData": data},
        }


def _new_host_instance_id() -> str:
    import uuid

    return str(uuid.uuid4())


_HOST_INSTANCE_ID = _new_host_instance_id()


def _role() -> tuple[str, str]:
    """``cloud_RoleName`` and ``cloud_RoleInstance`` as the library reports them here."""
    from .. import runtime
    from ..config import resolve_config

    active = runtime.get_runtime()
    config = active.config if active is not None else resolve_config(environ=dict(os.environ))
    return config.cloud_role, config.cloud_role_instance
