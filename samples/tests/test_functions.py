"""Unit tests of each function, written the way the Functions developer guide writes them.

Construct the trigger's input by hand (``func.HttpRequest``, ``func.QueueMessage``), call
``main`` with a ``FakeContext`` where the function declares one, and check the output.
"""

from __future__ import annotations

import asyncio
import json

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

from azfunc_telemetry.testing import FakeContext


def test_http_sync_greets_the_name_in_the_query_string() -> None:
    """A name on the query string is greeted."""
    # Construct a mock HTTP request.
    req = func.HttpRequest(method="GET", body=b"", url="/api/HttpSync", params={"name": "Test"})

    # Call the function.
    resp = http_sync(req, FakeContext("HttpSync"))

    # Check the output.
    assert resp.get_body() == b"Hello, Test!"
    assert resp.status_code == 200


def test_http_sync_greets_the_name_in_a_json_body() -> None:
    """Without a query parameter the JSON body's name is used."""
    req = func.HttpRequest(method="POST", body=b'{"name": "Ada"}', url="/api/HttpSync")

    resp = http_sync(req, FakeContext("HttpSync"))

    assert resp.get_body() == b"Hello, Ada!"


def test_http_sync_answers_400_without_a_name() -> None:
    """No name anywhere is a client error."""
    req = func.HttpRequest(method="GET", body=b"", url="/api/HttpSync")

    resp = http_sync(req, FakeContext("HttpSync"))

    assert resp.status_code == 400


def test_http_sync_response_names_the_invocation() -> None:
    """The x-invocation-id header is the invocation's id, to look its logs up."""
    context = FakeContext("HttpSync")
    req = func.HttpRequest(method="GET", body=b"", url="/api/HttpSync", params={"name": "x"})

    resp = http_sync(req, context)

    assert resp.headers["x-invocation-id"] == context.invocation_id


def test_http_async_quotes_every_item() -> None:
    """Each requested item is priced and the total is their sum."""
    req = func.HttpRequest(
        method="GET", body=b"", url="/api/HttpAsync", params={"skus": "sku-1001,sku-3003"}
    )

    # An async function is a coroutine function: run it to completion.
    resp = asyncio.run(http_async(req, FakeContext("HttpAsync")))

    body = json.loads(resp.get_body())
    assert body["items"] == {"sku-1001": 12.5, "sku-3003": 3.0}
    assert body["total"] == 15.5


def test_queue_worker_confirms_a_valid_order() -> None:
    """A valid order is confirmed on the output queue."""
    # Construct a mock queue message, and an output binding to receive what the function sets.
    msg = func.QueueMessage(body=b'{"id": "o-1", "sku": "sku-1001", "quantity": 2}')
    processed: OutputBinding[str] = OutputBinding()

    queue_worker(msg, processed, FakeContext("QueueWorker"))

    assert json.loads(processed.get()) == {"order_id": "o-1", "reservation": "res-sku-1001-2"}


def test_queue_worker_rejects_an_order_without_items() -> None:
    """An order for nothing raises, so the host retries and then poisons the message."""
    msg = func.QueueMessage(body=b'{"id": "o-2", "sku": "sku-1001", "quantity": 0}')
    processed: OutputBinding[str] = OutputBinding()

    with pytest.raises(InvalidOrderError, match="o-2 has no items"):
        queue_worker(msg, processed, FakeContext("QueueWorker"))
    assert processed.value is None


def test_queue_worker_rejects_a_message_that_is_not_an_order() -> None:
    """A message that is not JSON is rejected, naming the message."""
    msg = func.QueueMessage(id="m-9", body=b"not json")

    with pytest.raises(InvalidOrderError, match="m-9"):
        queue_worker(msg, OutputBinding(), FakeContext("QueueWorker"))


def test_no_context_runs_with_its_trigger_alone() -> None:
    """A function that declares no context is called with its trigger alone."""
    assert no_context(TimerRequest(past_due=False)) is None


def test_no_context_accepts_the_context_the_worker_passes() -> None:
    """The worker passes a context to the instrumented function, which does not forward it."""
    assert no_context(TimerRequest(past_due=True), context=FakeContext("NoContext")) is None


def test_fan_out_prices_the_whole_basket() -> None:
    """The parallel pricing adds up every item."""
    req = func.HttpRequest(method="GET", body=b"", url="/api/FanOut")

    resp = fan_out(req, FakeContext("FanOut"))

    assert json.loads(resp.get_body()) == {"total": sum(pricing.PRICES.values())}


def test_slow_report_builds_the_report() -> None:
    """The report is built in the requested time."""
    req = func.HttpRequest(method="GET", body=b"", url="/api/SlowReport", params={"seconds": "0"})

    resp = slow_report(req)

    assert resp.get_body() == b"report built in 0 s"


def test_slow_report_rejects_a_duration_that_is_not_a_number() -> None:
    """A malformed duration is a client error."""
    req = func.HttpRequest(
        method="GET", body=b"", url="/api/SlowReport", params={"seconds": "soon"}
    )

    assert slow_report(req).status_code == 400
