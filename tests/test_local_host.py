"""``HostTelemetry``: the host's request rows, written locally, only ever to this machine."""

from __future__ import annotations

import time
from typing import Any

import pytest
from helpers import base, of_type, props

from azfunc_telemetry.testing import HostRequest, HostTelemetry, IngestionEmulator

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"


def host_request(**changes: Any) -> HostRequest:
    """One finished invocation as the host saw it."""
    request = HostRequest(
        function_name="Orders",
        invocation_id="5e2b4c4e-0000-4000-8000-000000000001",
        operation_id=TRACE_ID,
        host_span_id=HOST_SPAN,
        start_time=time.time(),
        duration_ns=12_500_000,
        success=True,
        result_code="200",
        url="http://localhost/api/Orders",
    )
    return request._replace(**changes)


def test_a_row_has_the_hosts_shape(emulator: IngestionEmulator) -> None:
    """The row is a request named after the function, with the host's span as id and the host's
    dimensions, sent to the endpoint of the connection string given."""
    host = HostTelemetry(emulator.connection_string)
    host.record(host_request())
    assert host.flush(10)
    host.close()
    (row,) = of_type(emulator.envelopes, "RequestData")
    data = base(row)
    assert (data["id"], data["name"], data["responseCode"], data["success"]) == (
        HOST_SPAN,
        "Orders",
        "200",
        True,
    )
    assert data["duration"] == "0.00:00:00.012500"
    assert data["url"] == "http://localhost/api/Orders"
    assert row["tags"]["ai.operation.id"] == TRACE_ID
    assert row["tags"]["ai.operation.name"] == "Orders"
    assert "ai.operation.parentId" not in row["tags"]
    assert row["iKey"] == emulator.ikey
    dimensions = props(row)
    assert dimensions["InvocationId"] == "5e2b4c4e-0000-4000-8000-000000000001"
    assert (dimensions["Category"], dimensions["LogLevel"]) == ("Host.Results", "Information")
    assert (host.sent, host.discarded) == (1, 0)


def test_rows_for_an_endpoint_off_this_machine_are_discarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A non-loopback endpoint is never contacted: the rows are counted as discarded."""
    host = HostTelemetry(
        "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
        "IngestionEndpoint=https://192.0.2.10/"
    )
    host.record(host_request())
    assert host.flush(10)
    host.close()
    assert (host.sent, host.discarded) == (0, 1)
    assert any("only a loopback endpoint" in r.getMessage() for r in caplog.records)


def test_without_any_destination_rows_are_discarded() -> None:
    """No connection string anywhere (and no telemetry set up): nothing is sent."""
    host = HostTelemetry()
    host.record(host_request())
    assert host.flush(10)
    host.close()
    assert (host.sent, host.discarded) == (0, 1)


def test_an_endpoint_that_fails_loses_the_rows_not_the_sender(
    emulator: IngestionEmulator,
) -> None:
    """A refused batch is counted as discarded; later rows are still sent."""
    from azfunc_telemetry.testing import ScriptedResponse

    emulator.script(ScriptedResponse(status=500))
    host = HostTelemetry(emulator.connection_string)
    host.record(host_request())
    assert host.flush(10)
    host.record(host_request(invocation_id="second"))
    assert host.flush(10)
    host.close()
    assert (host.sent, host.discarded) == (1, 1)
    (row,) = of_type(emulator.envelopes, "RequestData")
    assert props(row)["InvocationId"] == "second"
