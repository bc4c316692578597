"""What each sample function sends to Application Insights, checked on a local ingestion endpoint.

``IngestionEmulator`` is a real endpoint on 127.0.0.1; ``azfunc_telemetry.setup`` points the
library at it, and ``azfunc_telemetry.flush()`` returns once everything emitted was accepted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from bindings import OutputBinding
from FanOut import main as fan_out
from HttpAsync import main as http_async
from HttpSync import main as http_sync
from NoContext import main as no_context
from QueueWorker import InvalidOrderError
from QueueWorker import main as queue_worker
from shared_code import pricing
from SlowReport import main as slow_report

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator, LocalDispatcher

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
HOST_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{HOST_SPAN_ID}-01"


def delivered(emulator: IngestionEmulator, base_type: str) -> list[dict[str, Any]]:
    """Flush, then the ``baseData`` plus tags of every item of ``base_type`` that arrived."""
    assert azfunc_telemetry.flush(10.0)
    return [
        {**envelope["data"]["baseData"], "tags": envelope["tags"]}
        for envelope in emulator.telemetry(base_type)
    ]


def invocations(emulator: IngestionEmulator) -> list[dict[str, Any]]:
    """The invocation items: ``InProc`` dependencies, each a child of the host's request."""
    return [d for d in delivered(emulator, "RemoteDependencyData") if d["type"] == "InProc"]


def spans(emulator: IngestionEmulator) -> list[dict[str, Any]]:
    """The dependencies the functions' own ``span()`` calls reported."""
    return [d for d in delivered(emulator, "RemoteDependencyData") if d["type"] != "InProc"]


def http(function: str, **params: str) -> func.HttpRequest:
    """A GET request to one of the app's HTTP functions."""
    return func.HttpRequest(method="GET", body=b"", url=f"/api/{function}", params=params)


def test_http_sync_reports_request_trace_and_dependency(emulator: IngestionEmulator) -> None:
    """HttpSync: an invocation under the host's request, a tagged trace, and the database span."""
    context = FakeContext("HttpSync", trace_parent=TRACEPARENT)

    http_sync(http("HttpSync", name="ada"), context)

    (request,) = invocations(emulator)
    assert request["name"] == "HttpSync"
    assert request["success"] is True
    assert request["resultCode"] == "200"
    assert request["tags"]["ai.operation.id"] == TRACE_ID
    assert request["tags"]["ai.operation.parentId"] == HOST_SPAN_ID
    assert request["properties"]["invocation_id"] == context.invocation_id
    assert request["properties"]["execution_mode"] == "sync"

    (trace,) = delivered(emulator, "MessageData")
    assert trace["message"] == "Greeting ada"
    assert trace["properties"]["invocation_id"] == context.invocation_id
    assert trace["properties"]["function_name"] == "HttpSync"
    assert trace["properties"]["customer_tier"] == "gold"
    assert trace["tags"]["ai.operation.id"] == TRACE_ID

    (dependency,) = spans(emulator)
    assert dependency["name"] == "SELECT customers"
    assert dependency["type"] == "SQL"
    assert dependency["tags"]["ai.operation.parentId"] == request["id"]
    assert dependency["properties"]["invocation_id"] == context.invocation_id


def test_http_async_tags_records_of_its_tasks(emulator: IngestionEmulator) -> None:
    """HttpAsync: records from the gathered tasks carry the invocation; each call is a span."""
    context = FakeContext("HttpAsync")

    asyncio.run(http_async(http("HttpAsync", skus="sku-1001,sku-2002,sku-3003"), context))

    (request,) = invocations(emulator)
    assert request["properties"]["execution_mode"] == "async"
    traces = delivered(emulator, "MessageData")
    assert len(traces) == 4  # three quotes, one summary
    assert {trace["properties"]["invocation_id"] for trace in traces} == {context.invocation_id}
    dependencies = spans(emulator)
    assert sorted(d["name"] for d in dependencies) == [
        "GET /prices/sku-1001",
        "GET /prices/sku-2002",
        "GET /prices/sku-3003",
    ]
    assert {d["resultCode"] for d in dependencies} == {"200"}


def test_queue_worker_failure_is_a_failed_request_with_its_exception(
    emulator: IngestionEmulator,
) -> None:
    """QueueWorker: a rejected order gives a failed invocation and an exception with its id."""
    context = FakeContext("QueueWorker")
    msg = func.QueueMessage(id="m-1", body=b'{"id": "o-7", "sku": "sku-1001", "quantity": 0}')

    with pytest.raises(InvalidOrderError):
        queue_worker(msg, OutputBinding(), context)

    (request,) = invocations(emulator)
    assert request["success"] is False
    assert request["properties"]["trigger_type"] == "queueTrigger"
    (exception,) = delivered(emulator, "ExceptionData")
    assert exception["exceptions"][0]["typeName"] == "InvalidOrderError"
    assert exception["properties"]["invocation_id"] == context.invocation_id
    (warning,) = delivered(emulator, "MessageData")
    assert warning["message"] == "Order o-7 has no items"
    assert warning["properties"]["order_id"] == "o-7"
    assert warning["properties"]["quantity"] == "0"


def test_queue_worker_logs_inside_its_span(emulator: IngestionEmulator) -> None:
    """QueueWorker: the record logged inside the database span is parented to that span."""
    msg = func.QueueMessage(body=b'{"id": "o-8", "sku": "sku-2002", "quantity": 3}')
    processed: OutputBinding[str] = OutputBinding()

    queue_worker(msg, processed, FakeContext("QueueWorker"))

    assert json.loads(processed.get())["order_id"] == "o-8"
    (dependency,) = spans(emulator)
    traces = {trace["message"]: trace for trace in delivered(emulator, "MessageData")}
    assert traces["Reserved 3 x sku-2002"]["tags"]["ai.operation.parentId"] == dependency["id"]
    (request,) = invocations(emulator)
    assert traces["Processing order o-8"]["tags"]["ai.operation.parentId"] == request["id"]


def test_function_without_context_is_tagged_with_the_worker_context(
    emulator: IngestionEmulator,
) -> None:
    """NoContext: the context the worker passes tags its records though main never sees it."""
    context = FakeContext("NoContext")

    no_context(TimerRequest(past_due=True), context=context)

    (request,) = invocations(emulator)
    assert request["name"] == "NoContext"
    assert request["properties"]["trigger_type"] == "timerTrigger"
    traces = delivered(emulator, "MessageData")
    assert [trace["message"] for trace in traces] == [
        "The cleanup ran late",
        "Released 0 expired reservations",
    ]
    assert {trace["properties"]["invocation_id"] for trace in traces} == {context.invocation_id}


def test_fan_out_threads_log_under_the_invocation(emulator: IngestionEmulator) -> None:
    """FanOut: executor tasks, a wrapped thread and a worker-style thread are all tagged."""
    context = FakeContext("FanOut")

    fan_out(http("FanOut"), context)

    traces = delivered(emulator, "MessageData")
    messages = sorted(trace["message"] for trace in traces)
    priced = [message for message in messages if message.startswith("Priced ")]
    assert len(priced) == len(pricing.PRICES)
    assert "Sent the quote of 42.75" in messages  # wrap_in_invocation
    assert "Audit record written for 42.75" in messages  # thread_local_storage
    assert {trace["properties"]["invocation_id"] for trace in traces} == {context.invocation_id}
    assert {trace["properties"]["function_name"] for trace in traces} == {"FanOut"}
    dependencies = spans(emulator)
    assert len(dependencies) == len(pricing.PRICES)
    assert {d["properties"]["invocation_id"] for d in dependencies} == {context.invocation_id}


def test_slow_reports_saturate_a_small_pool(emulator: IngestionEmulator) -> None:
    """SlowReport: on a 2-thread pool, later invocations wait and see the pool saturated."""
    contexts = [FakeContext("SlowReport") for _ in range(6)]
    with LocalDispatcher(max_workers=2) as dispatcher:
        futures = [
            dispatcher.invoke(slow_report, context, req=http("SlowReport", seconds="0.1"))
            for context in contexts
        ]
        assert [future.result(timeout=30).status_code for future in futures] == [200] * 6

    requests = invocations(emulator)
    assert len(requests) == 6
    dimensions = [request["properties"] for request in requests]
    assert {d["pool_size"] for d in dimensions} == {"2"}
    assert {d["pool_size_source"] for d in dimensions} == {"executor"}
    waits = sorted(float(d["pool_wait_ms"]) for d in dimensions)
    assert waits[-1] >= 150  # the last two waited for two rounds of 0.1 s reports
    assert any(d["pool_saturated"] == "true" for d in dimensions)
    assert {d["invocation_id"] for d in dimensions} == {c.invocation_id for c in contexts}
