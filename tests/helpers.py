"""Small pieces shared by the test modules: picking telemetry out of emulator envelopes, and
envelopes shaped like the OTel exporter's captures in protocol.md Appendix A."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = [
    "CAPTURED_IKEY",
    "OTEL_TAGS",
    "Envelope",
    "base",
    "count_type",
    "messages",
    "of_type",
    "otel_envelope",
    "otel_message",
    "props",
]

Envelope = dict[str, Any]

#: The instrumentation key of the captured envelopes.
CAPTURED_IKEY = "00000000-0000-0000-0000-000000000001"
#: The tags the OTel exporter puts on every envelope of the capture (its resource).
OTEL_TAGS = {
    "ai.cloud.role": "my-func-app",
    "ai.cloud.roleInstance": "instance-1",
    "ai.internal.sdkVersion": "ulm_py3.11.7:otel1.45.2:ext1.0.0b58",
    "ai.internal.nodeName": "instance-1",
}


def base(envelope: Envelope) -> dict[str, Any]:
    """The envelope's ``baseData``."""
    data: dict[str, Any] = envelope["data"]["baseData"]
    return data


def props(envelope: Envelope) -> dict[str, str]:
    """The envelope's custom dimensions."""
    properties: dict[str, str] = base(envelope).get("properties", {})
    return properties


def of_type(envelopes: list[Envelope], base_type: str) -> list[Envelope]:
    """Envelopes whose ``baseType`` is ``base_type``."""
    return [e for e in envelopes if e["data"]["baseType"] == base_type]


def count_type(base_type: str, expected: int) -> Any:
    """A ``wait_for`` predicate: at least ``expected`` envelopes of ``base_type`` arrived."""
    return lambda envelopes: len(of_type(envelopes, base_type)) >= expected


def messages(envelopes: list[Envelope]) -> list[str]:
    """The log messages among ``envelopes``, in arrival order."""
    return [base(e)["message"] for e in of_type(envelopes, "MessageData")]


def otel_envelope(base_type: str, base_data: dict[str, Any], ikey: str = CAPTURED_IKEY) -> Envelope:
    """An envelope as the OTel exporter sends it from inside a server span, stamped now.

    The item name follows from ``base_type`` (``RequestData`` is a
    ``Microsoft.ApplicationInsights.Request``); ``base_data`` gets the schema version 2.
    """
    return {
        "name": f"Microsoft.ApplicationInsights.{base_type.removesuffix('Data')}",
        "iKey": ikey,
        "tags": {
            **OTEL_TAGS,
            "ai.operation.id": "2e927bbd3a0bd52b4f4ef6d0a9f99fa0",
            "ai.operation.parentId": "ae211013cd85d80c",
        },
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"baseData": {"ver": 2, **base_data}, "baseType": base_type},
    }


def otel_message(text: str = "hello world", ikey: str = CAPTURED_IKEY) -> Envelope:
    """A log record's envelope (``MessageData``) carrying ``text`` and two dimensions."""
    return otel_envelope(
        "MessageData",
        {
            "message": text,
            "severityLevel": 1,
            "properties": {"invocation_id": "abc-123", "count": 3},
            "measurements": {},
        },
        ikey,
    )
