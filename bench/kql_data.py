"""The synthetic telemetry store the KQL benchmark queries.

Shaped like a busy function app's: requests of a handful of functions, each with several traces
sharing its ``operation_Id``, spread evenly over the two hours before ``now``, with the
dimensions the host writes (``Category``, ``InvocationId``). Rows go in through
:meth:`TelemetryStore.insert`, the path the sink uses, so the store is exactly what a real one
holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azfunc_telemetry.local.store import TelemetryStore

__all__ = ["FUNCTIONS", "build_store"]

FUNCTIONS = ("HttpOrders", "QueueBilling", "TimerCleanup", "BlobResize", "HttpHealth")
_CATEGORIES = ("Host.Results", "Function.HttpOrders", "Function.QueueBilling", "Worker", "Host")
_SPAN = timedelta(hours=2)
_BATCH = 5_000


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _envelopes(traces: int, requests: int, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(14)
    per_request = max(traces // max(requests, 1), 1)
    made_traces = 0
    for number in range(requests):
        moment = now - _SPAN + _SPAN * (number / max(requests, 1))
        function = FUNCTIONS[number % len(FUNCTIONS)]
        operation = f"{number:032x}"
        invocation = f"inv-{number}"
        tags = {"ai.operation.id": operation, "ai.operation.name": function,
                "ai.cloud.role": "orders-app", "ai.cloud.roleInstance": "host-1"}  # fmt: skip
        millis = rng.lognormvariate(4.0, 1.0)
        yield {
            "iKey": "00000000-0000-0000-0000-000000000001",
            "time": _time(moment),
            "tags": tags,
            "data": {
                "baseType": "RequestData",
                "baseData": {
                    "id": f"{number:016x}", "name": function,
                    "duration": f"00:00:{millis / 1000:09.6f}" if millis < 59_000 else "00:01:00",
                    "success": rng.random() > 0.05, "responseCode": "200",
                    "properties": {"InvocationId": invocation, "Category": "Host.Results"},
                },
            },
        }  # fmt: skip
        count = per_request if number < requests - 1 else traces - made_traces
        for offset in range(count):
            made_traces += 1
            yield {
                "iKey": "00000000-0000-0000-0000-000000000001",
                "time": _time(moment + timedelta(milliseconds=offset)),
                "tags": tags,
                "data": {
                    "baseType": "MessageData",
                    "baseData": {
                        "message": f"Step {offset} of {function} for order {number}",
                        "severityLevel": rng.choice((0, 1, 1, 1, 2, 3)),
                        "properties": {
                            "InvocationId": invocation,
                            "Category": rng.choice(_CATEGORIES),
                            "LogLevel": "Information",
                        },
                    },
                },
            }


def build_store(path: Path, traces: int, requests: int, now: datetime) -> int:
    """Create ``path`` holding ``traces`` traces and ``requests`` requests; returns rows written."""
    written = 0
    batch: list[dict[str, Any]] = []
    with TelemetryStore(path) as store:
        for envelope in _envelopes(traces, requests, now):
            batch.append(envelope)
            if len(batch) >= _BATCH:
                written += store.insert(batch)
                batch = []
        written += store.insert(batch)
    return written
