"""What the emulator records about each request, and how tests script its answers.

Kept apart from the server so the vocabulary a test uses (:class:`ScriptedResponse`,
:class:`RecordedRequest`) reads on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from azfunc_telemetry.ingestion import Reply, build_response, json_reply

__all__ = ["RecordedRequest", "Responder", "ScriptedResponse", "scripted_reply"]

_ITEM_ERROR_MESSAGES = {
    206: "Telemetry sampled out.",
    400: "Invalid telemetry item",
    402: "Monthly quota exceeded",
    429: "Too many requests",
    439: "Daily quota exceeded",
}


def _item_error_message(status: int) -> str:
    if status in _ITEM_ERROR_MESSAGES:
        return _ITEM_ERROR_MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received.

    Attributes:
        request_line: Raw request line, e.g. ``POST //v2.1/track HTTP/1.1``.
        path: Request target without query string, leading slashes as sent.
        headers: Request headers.
        body: Body bytes after undoing ``Content-Encoding`` (as sent if that failed).
        item_count: Number of items the body held (0 when it could not be decoded).
        status: HTTP status answered; 0 when the connection was dropped without an answer, or,
            inside a :meth:`IngestionEmulator.respond_with` callback, not decided yet.
        received_at: ``time.monotonic()`` when the request arrived; compare entries to measure
            retry intervals.
    """

    request_line: str
    path: str
    headers: dict[str, str]
    body: bytes
    item_count: int
    status: int
    received_at: float

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` for NDJSON or invalid bodies)."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ScriptedResponse:
    """How the emulator answers one request instead of its normal judgement.

    Scripted answers skip validation: the items' fate is exactly what is scripted.

    Attributes:
        status: HTTP status to answer with. Non-2xx means no item is stored.
        headers: Extra response headers, e.g. ``{"Retry-After": "7"}``.
        body: Raw body to send instead of the service's JSON document (e.g. non-JSON text).
        item_statuses: Per-item status codes, in item order, for a 2xx answer: items with 200
            are stored, the others are reported in ``errors`` (206 reads "Telemetry sampled
            out."). Items past the end of the sequence count as 200. The HTTP status is still
            ``status``, so set ``status=206`` for a classic partial success.
        delay_s: Wait this long before answering (stored items are stored after the wait).
        hang: Read the request, then answer only after :meth:`IngestionEmulator.release`; if the
            emulator stops first, the connection is dropped and nothing is stored.
        close_without_response: Read the request, then close the connection without answering.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    body: bytes | None = None
    item_statuses: Sequence[int] | None = None
    delay_s: float = 0.0
    hang: bool = False
    close_without_response: bool = False


Responder = Callable[[RecordedRequest], "ScriptedResponse | None"]
"""Decides the answer to one request; None means the normal judgement."""


def scripted_reply(
    scripted: ScriptedResponse, items: list[dict[str, Any]]
) -> tuple[Reply, list[dict[str, Any]]]:
    """The reply and the accepted items for a scripted answer (no validation: as scripted)."""
    if scripted.close_without_response:
        return Reply(drop_connection=True), []
    success = 200 <= scripted.status < 300
    statuses = list(scripted.item_statuses or [])
    accepted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_status = statuses[index] if index < len(statuses) else 200
        if not success:
            item_status = scripted.status
        if item_status == 200:
            accepted.append(item)
        else:
            message = _item_error_message(item_status)
            errors.append({"index": index, "statusCode": item_status, "message": message})
    _, document = build_response(len(items), errors)
    headers = dict(scripted.headers)
    if scripted.body is None:
        return json_reply(scripted.status, document, headers), accepted
    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return Reply(scripted.status, scripted.body, headers), accepted
