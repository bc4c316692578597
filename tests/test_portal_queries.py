"""The Azure portal's Monitor tab, run on a local store holding the host's rows and ours.

The portal lists a function's invocations with one query on ``requests`` and shows one
invocation's logs with another on ``traces`` and ``exceptions``. Both run here, as the portal
writes them, on what a burst of concurrent sync and async invocations left in a local store:
the ``Host.Results`` request rows the local dispatcher writes as the host does, and everything
the library exports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import azure.functions as func
import pytest

import azfunc_telemetry
from azfunc_telemetry.local.kql import run_query
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.local.store import TelemetryStore
from azfunc_telemetry.testing import FakeContext, LocalDispatcher

APP = "contoso-orders"
log = logging.getLogger("orders")

#: What each function logs, in order, with the level the portal must show for it.
SYNC_RECORDS = [
    ("Information", "sync: received"),
    ("Warning", "sync: stock is low"),
    ("Error", "sync: payment declined"),
    ("Critical", "sync: giving up"),
]
ASYNC_RECORDS = [
    ("Information", "async: received"),
    ("Information", "async: priced"),
    # Logged with log.exception("async: lookup failed"): an exceptions row, which the view
    # shows by its exception's message (the record's text is in customDimensions.log_message).
    ("Error", "no price"),
    ("Warning", "async: done"),
]
_LEVELS = {
    "Information": logging.INFO,
    "Warning": logging.WARNING,
    "Error": logging.ERROR,
    "Critical": logging.CRITICAL,
}


@azfunc_telemetry.instrument
def place_order(req: func.HttpRequest) -> func.HttpResponse:
    """Sync: four records at four levels, each a moment after the one before."""
    for level, message in SYNC_RECORDS:
        log.log(_LEVELS[level], message)
        time.sleep(0.002)  # part of the work: keeps the records' timestamps apart
    return func.HttpResponse("placed")


@azfunc_telemetry.instrument
async def price_order(msg: func.QueueMessage) -> None:
    """Async: records from the invocation's task and a child task, one an exception."""

    async def child() -> None:
        await asyncio.sleep(0.002)
        log.info(ASYNC_RECORDS[1][1])

    log.info(ASYNC_RECORDS[0][1])
    await asyncio.create_task(child())
    await asyncio.sleep(0.002)
    try:
        raise LookupError("no price")
    except LookupError:
        log.exception("async: lookup failed")
    await asyncio.sleep(0.002)
    log.warning(ASYNC_RECORDS[3][1])


class Ran(NamedTuple):
    """One invocation the burst ran."""

    function_name: str
    invocation_id: str
    operation_id: str


def run_burst(store_path: Path, count: int = 6) -> list[Ran]:
    """``count`` invocations of each function at once, into a sink writing ``store_path``."""
    ran: list[Ran] = []
    with TelemetrySink(store_path, port=0) as sink:
        azfunc_telemetry.setup(
            connection_string=sink.connection_string, export_interval_s=0.05, cloud_role=APP
        )
        futures = []
        with LocalDispatcher(max_workers=3) as dispatcher:
            for _ in range(count):
                for name, function, bindings in (
                    ("place_order", place_order, {"req": _request()}),
                    ("price_order", price_order, {"msg": func.QueueMessage(body=b"{}")}),
                ):
                    context = FakeContext(name)
                    futures.append(dispatcher.invoke(function, context, **bindings))
                    operation_id = context.trace_context.trace_parent.split("-")[1]
                    ran.append(Ran(name, context.invocation_id, operation_id))
            for future in futures:
                future.result(30)
            assert dispatcher.flush(10)
        assert azfunc_telemetry.flush(10)
        azfunc_telemetry.shutdown(2.0)
    return ran


def _request() -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost/api/place_order", body=b"{}")


def list_query(function_name: str) -> str:
    """The portal's invocation list for one function."""
    return (
        f"requests | where cloud_RoleName =~ '{APP}' and operation_Name =~ '{function_name}' "
        "| project timestamp, id, operation_Id, success, resultCode, duration, "
        "invocationId = customDimensions['InvocationId'] | order by timestamp desc"
    )


def detail_query(operation_id: str, invocation_id: str) -> str:
    """The portal's log view of one invocation."""
    return (
        f"union traces | union exceptions | where operation_Id == '{operation_id}' "
        f"| where customDimensions['InvocationId'] == '{invocation_id}' "
        "| order by timestamp asc "
        "| project timestamp, message = iff(message != '', message, outerMessage), "
        "logLevel = customDimensions['LogLevel'], itemType"
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TelemetryStore, list[Ran]]]:
    """The burst's store, with the host's request rows and the library's telemetry."""
    path = tmp_path_factory.mktemp("portal") / "telemetry.db"
    logging.getLogger().setLevel(logging.INFO)
    ran = run_burst(path)
    with TelemetryStore(path) as opened:
        yield opened, ran


def test_each_invocation_is_listed_exactly_once(
    store: tuple[TelemetryStore, list[Ran]],
) -> None:
    """The invocation list query returns one row per invocation of the function, no more."""
    opened, ran = store
    for name in ("place_order", "price_order"):
        rows = run_query(list_query(name), opened).as_dicts()
        expected = [r for r in ran if r.function_name == name]
        assert sorted(str(row["invocationId"]) for row in rows) == sorted(
            r.invocation_id for r in expected
        )
        assert len(rows) == len(expected)
        assert {row["operation_Id"] for row in rows} == {r.operation_id for r in expected}
        assert all(row["success"] is True for row in rows)


def test_each_invocations_detail_view_shows_all_its_records_in_order_with_their_level(
    store: tuple[TelemetryStore, list[Ran]],
) -> None:
    """The detail query returns exactly the invocation's records, in order, with LogLevel."""
    opened, ran = store
    for invocation in ran:
        rows = run_query(detail_query(invocation.operation_id, invocation.invocation_id), opened)
        shown = [(str(row["logLevel"]), row["message"]) for row in rows.as_dicts()]
        expected = SYNC_RECORDS if invocation.function_name == "place_order" else ASYNC_RECORDS
        assert shown == expected, invocation
        timestamps = [row["timestamp"] for row in rows.as_dicts()]
        assert timestamps == sorted(timestamps)


def test_the_same_queries_hold_where_the_host_writes_no_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, info_logging: None
) -> None:
    """With Host.Results off, the library's own request rows make the same list and views."""
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "logging": {"logLevel": {"Host.Results": "None"}}})
    )
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    ran = run_burst(tmp_path / "telemetry.db", count=3)
    with TelemetryStore(tmp_path / "telemetry.db") as opened:
        requests = opened.rows("requests")
        assert not [r for r in requests if r["customDimensions"].get("Category") == "Host.Results"]
        for name in ("place_order", "price_order"):
            rows = run_query(list_query(name), opened).as_dicts()
            expected = sorted(r.invocation_id for r in ran if r.function_name == name)
            assert sorted(str(row["invocationId"]) for row in rows) == expected
        for invocation in ran:
            query = detail_query(invocation.operation_id, invocation.invocation_id)
            levels = [str(row["logLevel"]) for row in run_query(query, opened).as_dicts()]
            expected_records: list[Any] = (
                SYNC_RECORDS if invocation.function_name == "place_order" else ASYNC_RECORDS
            )
            assert levels == [level for level, _ in expected_records]
