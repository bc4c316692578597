"""A loopback Application Insights endpoint for testing function apps end to end.

:class:`IngestionEmulator` listens on ``127.0.0.1``, accepts what the real ingestion endpoint
accepts (JSON array, NDJSON, gzip; ``/v2/track`` and ``/v2.1/track`` with any number of leading
slashes) and records every request and every accepted envelope. Point an exporter at it through
:attr:`IngestionEmulator.connection_string`, run the code under test, then wait for the telemetry::

    with IngestionEmulator() as emulator:
        os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = emulator.connection_string
        run_my_function()
        emulator.wait_for(lambda envelopes: len(envelopes) >= 2)
        assert emulator.telemetry("RequestData")[0]["data"]["baseData"]["success"]

Reliability tests script failures with :meth:`IngestionEmulator.script` (throttling, partial
acceptance, server errors, hangs, dropped connections) or decide per request with
:meth:`IngestionEmulator.respond_with`, and simulate an outage by stopping the emulator and
starting a new one on the same port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azfunc_telemetry.ingestion import (
    IncomingRequest,
    IngestionError,
    IngestionServer,
    Reply,
    build_response,
    check_items,
    decompress_body,
    error_reply,
    json_reply,
    parse_items,
)

from .scripting import RecordedRequest, Responder, ScriptedResponse, scripted_reply

__all__ = [
    "DEFAULT_IKEY",
    "IngestionEmulator",
    "RecordedRequest",
    "Responder",
    "ScriptedResponse",
]

_log = logging.getLogger(__name__)

DEFAULT_IKEY = "00000000-0000-0000-0000-000000000000"
"""Instrumentation key the emulator accepts unless told otherwise."""

_STOP_JOIN_TIMEOUT_S = 2.0


class _EmulatorServer(IngestionServer):
    def __init__(self, emulator: IngestionEmulator, host: str, port: int) -> None:
        self.emulator = emulator
        super().__init__(host=host, port=port, ikeys=[emulator.ikey])

    def handle_track(self, request: IncomingRequest) -> Reply:
        return self.emulator._handle_track(request, self)


class IngestionEmulator:
    """A local ingestion endpoint that records what exporters send.

    Args:
        ikey: The instrumentation key it accepts; items with another key get the service's
            per-item ``400 "Invalid instrumentation key"``.
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one. Pass a previous emulator's :attr:`port` to simulate
            an endpoint coming back after an outage.
    """

    def __init__(self, *, ikey: str = DEFAULT_IKEY, host: str = "127.0.0.1", port: int = 0) -> None:
        self._ikey = ikey
        self._host = host
        self._port = port
        self._condition = threading.Condition()
        self._envelopes: list[dict[str, Any]] = []
        self._requests: list[RecordedRequest] = []
        self._script: deque[ScriptedResponse] = deque()
        self._responder: Responder | None = None
        self._releases = 0
        self._server: _EmulatorServer | None = None

    @property
    def ikey(self) -> str:
        """The instrumentation key this emulator accepts."""
        return self._ikey

    @property
    def port(self) -> int:
        """The TCP port, once started (kept after :meth:`stop` so a successor can reuse it)."""
        if not self._port:
            raise RuntimeError("the emulator has no port yet; call start() first")
        return self._port

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:49152``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def connection_string(self) -> str:
        """Connection string for exporters; the endpoint ends with ``/`` as in the portal."""
        return f"InstrumentationKey={self._ikey};IngestionEndpoint={self.endpoint}/"

    @property
    def running(self) -> bool:
        """Whether the emulator is currently listening."""
        return self._server is not None

    def start(self) -> IngestionEmulator:
        """Bind and start serving in the background; returns self."""
        if self._server is not None:
            return self
        server = _EmulatorServer(self, self._host, self._port)
        self._port = server.port
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop listening, unblock hung requests and drop open connections.

        Returns within a few seconds even while requests hang. Recorded data is kept, and the
        emulator can be started again on the same port.
        """
        server, self._server = self._server, None
        if server is None:
            return
        with self._condition:
            server.closing.set()
            self._condition.notify_all()
        server.stop(timeout=_STOP_JOIN_TIMEOUT_S)

    def __enter__(self) -> IngestionEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """Every accepted envelope so far, in arrival order (a copy)."""
        with self._condition:
            return list(self._envelopes)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._condition:
            return list(self._requests)

    def telemetry(self, base_type: str | None = None) -> list[dict[str, Any]]:
        """Accepted envelopes, optionally only those whose ``data.baseType`` matches.

        Args:
            base_type: e.g. ``"MessageData"``, ``"RequestData"``, ``"RemoteDependencyData"``,
                ``"ExceptionData"``, ``"EventData"``, ``"MetricData"``.
        """
        envelopes = self.envelopes
        if base_type is None:
            return envelopes
        return [envelope for envelope in envelopes if _base_type(envelope) == base_type]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``predicate(envelopes)`` is true and return the envelopes.

        Exporters send from background threads on their own schedule, so tests wait on the
        outcome rather than sleeping.

        Raises:
            TimeoutError: The predicate stayed false for ``timeout`` seconds; the message says
                how many envelopes and requests arrived.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                snapshot = list(self._envelopes)
                if predicate(snapshot):
                    return snapshot
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"telemetry condition not met within {timeout:g}s: received "
                        f"{len(self._envelopes)} envelope(s) in {len(self._requests)} request(s)"
                    )
                self._condition.wait(remaining)

    def wait_for_telemetry(
        self, base_type: str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` items of ``base_type`` arrived; return only those.

        Args:
            base_type: the ``data.baseType`` asked for, e.g. ``"RequestData"`` or
                ``"MessageData"`` (see :meth:`telemetry`).
            count: how many of them to wait for.
            timeout: seconds to wait.

        Raises:
            TimeoutError: Fewer items of that type arrived within ``timeout`` seconds.
        """
        self.wait_for(
            lambda envelopes: sum(1 for e in envelopes if _base_type(e) == base_type) >= count,
            timeout,
        )
        return self.telemetry(base_type)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived and return them all.

        Raises:
            TimeoutError: Fewer requests arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {count} request(s) within {timeout:g}s: received "
                        f"{len(self._requests)} request(s) carrying "
                        f"{len(self._envelopes)} accepted envelope(s)"
                    )
                self._condition.wait(remaining)
            return list(self._requests)

    def script(self, *responses: ScriptedResponse) -> None:
        """Queue answers for the next requests, one per request in order.

        Once the queue is used up, requests get the normal judgement again.
        """
        with self._condition:
            self._script.extend(responses)

    def respond_with(self, responder: Responder | None) -> None:
        """Decide answers per request; consulted after the :meth:`script` queue is empty.

        ``responder`` gets the request (its ``status`` is 0, not decided yet) and returns a
        :class:`ScriptedResponse`, or None for the normal judgement. Pass None to remove it.
        """
        with self._condition:
            self._responder = responder

    def release(self) -> None:
        """Let every currently hung request (``hang=True``) send its answer."""
        with self._condition:
            self._releases += 1
            self._condition.notify_all()

    def clear(self) -> None:
        """Forget recorded envelopes and requests (scripted answers stay queued)."""
        with self._condition:
            self._envelopes.clear()
            self._requests.clear()

    def _handle_track(self, request: IncomingRequest, server: IngestionServer) -> Reply:
        payload = request.body
        items: list[dict[str, Any]] = []
        decode_error: IngestionError | None = None
        try:
            payload = decompress_body(request.body, request.headers)
            items = parse_items(payload, request.headers)
        except IngestionError as error:
            decode_error = error
        record = RecordedRequest(
            request_line=request.request_line,
            path=request.path,
            headers=dict(request.headers),
            body=payload,
            item_count=len(items),
            status=0,
            received_at=request.received_at,
        )
        scripted = self._next_scripted(record)
        if scripted is None:
            reply, accepted = self._judge(items, decode_error, server)
        else:
            reply, accepted = scripted_reply(scripted, items)
        answered = replace(record, status=0 if reply.drop_connection else reply.status)
        with self._condition:
            self._requests.append(answered)
            # Taken under the same lock as the append: a release() issued as soon as the test
            # sees this request must count for it.
            releases = self._releases
            self._condition.notify_all()
        if scripted is not None and not self._wait_scripted(scripted, releases, server):
            with self._condition:
                # Found by identity: clear() may have run while the request waited.
                for position, recorded in enumerate(self._requests):
                    if recorded is answered:
                        self._requests[position] = record
                self._condition.notify_all()
            return Reply(drop_connection=True)
        if accepted:
            with self._condition:
                self._envelopes.extend(accepted)
                self._condition.notify_all()
        return reply

    def _next_scripted(self, record: RecordedRequest) -> ScriptedResponse | None:
        with self._condition:
            if self._script:
                return self._script.popleft()
            responder = self._responder
        if responder is None:
            return None
        try:
            return responder(record)
        except Exception:
            # A broken responder must not look like a network fault to the code under test.
            _log.exception("the emulator's responder failed; answering 500")
            return ScriptedResponse(status=500)

    def _judge(
        self,
        items: list[dict[str, Any]],
        decode_error: IngestionError | None,
        server: IngestionServer,
    ) -> tuple[Reply, list[dict[str, Any]]]:
        if decode_error is not None:
            return error_reply(decode_error), []
        accepted, errors = check_items(items, ikeys=server.ikeys, now=server.clock())
        status, body = build_response(len(items), errors)
        return json_reply(status, body), accepted

    def _wait_scripted(
        self, scripted: ScriptedResponse, releases: int, server: IngestionServer
    ) -> bool:
        """Apply the scripted delay and hang; False when the emulator stopped meanwhile."""
        stopped = server.closing.is_set
        with self._condition:
            if scripted.delay_s > 0:
                deadline = time.monotonic() + scripted.delay_s
                while not stopped():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
            if scripted.hang:
                while not stopped() and self._releases == releases:
                    self._condition.wait()
            return not stopped()


def _base_type(envelope: dict[str, Any]) -> object:
    """An envelope's ``data.baseType`` (``None`` for an envelope without one)."""
    data = envelope.get("data")
    return data.get("baseType") if isinstance(data, dict) else None
