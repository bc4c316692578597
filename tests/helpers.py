"""Small helpers shared by the test modules: picking telemetry out of emulator envelopes."""

from __future__ import annotations

from typing import Any

Envelope = dict[str, Any]


def base(envelope: Envelope) -> dict[str, Any]:
    """The envelope's ``baseData``."""
    return envelope["data"]["baseData"]


def props(envelope: Envelope) -> dict[str, str]:
    """The envelope's custom dimensions."""
    return base(envelope).get("properties", {})


def of_type(envelopes: list[Envelope], base_type: str) -> list[Envelope]:
    """Envelopes whose ``baseType`` is ``base_type``."""
    return [e for e in envelopes if e["data"]["baseType"] == base_type]


def count_type(base_type: str, expected: int) -> Any:
    """A ``wait_for`` predicate: at least ``expected`` envelopes of ``base_type`` arrived."""
    return lambda envelopes: len(of_type(envelopes, base_type)) >= expected
