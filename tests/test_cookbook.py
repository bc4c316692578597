"""Every KQL cookbook query, run on a real demo workload's telemetry, returns the right rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azfunc_telemetry.local import demo_app
from azfunc_telemetry.local.cookbook import (
    COOKBOOK,
    INVOCATION_ID_PLACEHOLDER,
    CookbookQuery,
    render_markdown,
)
from azfunc_telemetry.local.demo import WorkloadResult, run_workload
from azfunc_telemetry.local.kql import run_query
from azfunc_telemetry.local.store import TelemetryStore

README = Path(__file__).resolve().parents[1] / "README.md"
POOL_SIZE = 4


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> WorkloadResult:
    """The demo workload, run once for the module into its own database."""
    path = tmp_path_factory.mktemp("cookbook") / "telemetry.db"
    result = run_workload(path, pool_size=POOL_SIZE)
    assert result.delivered
    return result


@pytest.fixture
def store(workload: WorkloadResult) -> Iterator[TelemetryStore]:
    """The workload's database, opened read-write like the CLI opens it."""
    with TelemetryStore(workload.store_path) as opened:
        yield opened


def query(title: str) -> CookbookQuery:
    """The cookbook entry with this title."""
    return next(entry for entry in COOKBOOK if entry.title == title)


def run(title: str, store: TelemetryStore, **values: str) -> list[dict[str, Any]]:
    """Run one cookbook query and return its rows as dicts."""
    return run_query(query(title).filled(**values), store).as_dicts()


def our_invocations(store: TelemetryStore) -> list[dict[str, Any]]:
    """The invocation items the library wrote: ``InProc`` dependencies carrying execution_mode."""
    return [
        row
        for row in store.rows("dependencies")
        if row["type"] == "InProc" and row["customDimensions"].get("execution_mode")
    ]


def host_requests(store: TelemetryStore) -> dict[str, dict[str, Any]]:
    """The host's request rows (written by the local dispatcher), by invocation id."""
    return {
        row["customDimensions"]["InvocationId"]: row
        for row in store.rows("requests")
        if row["customDimensions"].get("Category") == "Host.Results"
    }


def test_the_workload_has_azures_shape(workload: WorkloadResult, store: TelemetryStore) -> None:
    """One host request and one library InProc dependency per invocation, parented to it."""
    invocations = workload.function_of()
    hosts = host_requests(store)
    assert len(store.rows("requests")) == len(hosts) == len(invocations)
    assert set(hosts) == set(invocations)
    ours = our_invocations(store)
    assert len(ours) == len(invocations)
    for row in ours:
        host = hosts[row["customDimensions"]["InvocationId"]]
        assert row["operation_ParentId"] == host["id"]
        assert row["operation_Id"] == host["operation_Id"]
        assert row["name"] == host["name"] == invocations[host["customDimensions"]["InvocationId"]]
        assert row["duration"] <= host["duration"]


def test_cookbook_has_the_seven_recipes_in_order() -> None:
    """The cookbook offers exactly the seven queries the README promises, in order."""
    assert [entry.title for entry in COOKBOOK] == [
        "All logs of one invocation",
        "Slowest invocations by function",
        "Failures with their exceptions",
        "Time before the function ran",
        "Invocations that waited for the thread pool",
        "Logs joined to their request by operation_Id",
        "Concurrency over time",
    ]
    assert all(entry.description and entry.kql for entry in COOKBOOK)
    assert INVOCATION_ID_PLACEHOLDER in COOKBOOK[0].kql
    assert INVOCATION_ID_PLACEHOLDER in COOKBOOK[0].description


def test_filled_replaces_only_named_placeholders() -> None:
    """filled() substitutes {name} placeholders and leaves other braces alone."""
    entry = CookbookQuery("t", "d", 'T | where a == "{invocation_id}" | extend d = dynamic({})')
    assert entry.filled(invocation_id="abc") == 'T | where a == "abc" | extend d = dynamic({})'
    assert entry.filled() == entry.kql


def test_markdown_shows_each_query_in_a_kusto_block_under_its_title() -> None:
    """render_markdown() gives a heading, the description and a kusto block per query."""
    markdown = render_markdown()
    blocks = re.findall(r"### (.+?)\n\n(.+?)\n\n```kusto\n(.*?)\n```\n", markdown, re.DOTALL)
    assert [(title, " ".join(description.split()), kql) for title, description, kql in blocks] == [
        (entry.title, entry.description, entry.kql) for entry in COOKBOOK
    ]
    assert all(len(line) <= 100 for line in markdown.splitlines())


def test_readme_cookbook_is_exactly_the_rendered_cookbook() -> None:
    """The README's cookbook section is render_markdown()'s text: the documented KQL is tested."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- cookbook:start -->\n(.*?)<!-- cookbook:end -->", text, re.DOTALL)
    assert match, "README.md has no <!-- cookbook:start --> ... <!-- cookbook:end --> section"
    assert match.group(1).strip() == render_markdown().strip()


def test_all_logs_of_one_invocation(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 1 returns exactly one invocation's records, from all its threads, in time order."""
    invocation_id = workload.showcase_invocation_id
    rows = run("All logs of one invocation", store, invocation_id=invocation_id)
    expected = sorted(
        (
            row
            for table in ("traces", "exceptions")
            for row in store.rows(table)
            if row["customDimensions"].get("InvocationId") == invocation_id
        ),
        key=lambda row: row["timestamp"],
    )
    assert [row["message"] for row in rows] == [row["message"] for row in expected]
    assert [row["timestamp"] for row in rows] == sorted(row["timestamp"] for row in rows)
    assert list(rows[0]) == ["timestamp", "itemType", "level", "logger", "message"]
    messages = [row["message"] for row in rows]
    # The fan-out logs from its own thread, two executor threads and a raw thread.
    assert sum(message.startswith("Priced ") for message in messages) == 4
    assert any("pricing_" in message for message in messages)
    assert any(message.endswith(" in auditor") for message in messages)
    assert messages[-1] == "Basket total 38.00"
    assert {row["level"] for row in rows} == {"Information"}
    assert {row["itemType"] for row in rows} == {"trace"}


def test_slowest_invocations_by_function(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 2 lists every demo function once, with its invocation count, slowest first."""
    rows = run("Slowest invocations by function", store)
    assert {row["function_name"]: row["invocations"] for row in rows} == workload.counts()
    assert set(workload.counts()) == set(demo_app.FUNCTION_NAMES)
    p95 = [row["p95_ms"] for row in rows]
    assert p95 == sorted(p95, reverse=True)
    assert rows[0]["function_name"] == "SlowReport"
    assert rows[0]["p50_ms"] >= demo_app.REPORT_SECONDS * 1000
    for row in rows:
        assert row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]


def test_failures_with_their_exceptions(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 3 pairs each failed invocation with the exception that ended it."""
    rows = run("Failures with their exceptions", store)
    assert {row["invocation_id"] for row in rows} == workload.failed_ids()
    assert len(rows) == len(workload.failed_ids())
    for row in rows:
        assert row["function_name"] == "QueueWorker"
        assert row["resultCode"] == "1"
        assert row["exception_type"] == "InvalidOrderError"
        assert re.fullmatch(r"order order-\d{3} has no items", row["exception_message"])
    timestamps = [row["timestamp"] for row in rows]
    assert timestamps == sorted(timestamps, reverse=True)


def test_time_before_the_function_ran(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 4 gives, per function, the host's time before the worker ran it: long for sync
    functions behind a saturated pool, next to nothing for async ones."""
    rows = {row["function_name"]: row for row in run("Time before the function ran", store)}
    assert {name: row["invocations"] for name, row in rows.items()} == workload.counts()
    for row in rows.values():
        assert 0 <= row["avg_before_ms"] <= row["p95_before_ms"]
    slowest_sync = max(rows[name]["p95_before_ms"] for name in ("HttpSync", "SlowReport"))
    assert slowest_sync > demo_app.REPORT_SECONDS * 1000  # queued behind the slow reports
    assert rows["HttpAsync"]["p95_before_ms"] < slowest_sync
    order = [row["p95_before_ms"] for row in rows.values()]
    assert order == sorted(order, reverse=True)


def test_invocations_that_waited_for_the_pool(
    workload: WorkloadResult, store: TelemetryStore
) -> None:
    """Query 5 returns just the sync invocations that waited or met a full pool, longest first."""
    rows = run("Invocations that waited for the thread pool", store)

    def waited(dimensions: dict[str, str]) -> bool:
        wait = dimensions.get("pool_wait_ms")
        return (wait is not None and float(wait) >= 5) or dimensions.get("pool_saturated") == "true"

    expected = {
        row["customDimensions"]["invocation_id"]
        for row in our_invocations(store)
        if row["customDimensions"]["execution_mode"] == "sync" and waited(row["customDimensions"])
    }
    assert rows, "a 4-thread pool under this workload must make invocations wait"
    assert {row["invocation_id"] for row in rows} == expected
    waits = [row["pool_wait_ms"] for row in rows]
    assert all(wait is not None for wait in waits)  # the local dispatcher measures every wait
    assert waits == sorted(waits, reverse=True)
    assert any(row["pool_saturated"] for row in rows)
    functions = workload.function_of()
    assert {functions[row["invocation_id"]] for row in rows} <= {
        "HttpSync", "QueueWorker", "SlowReport", "FanOut"
    }  # fmt: skip
    assert {row["pool_size"] for row in rows} == {POOL_SIZE}


def test_logs_joined_to_their_request(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 6 puts every tagged log next to the request of the invocation that logged it."""
    rows = run("Logs joined to their request by operation_Id", store)
    tagged = [row for row in store.rows("traces") if row["customDimensions"].get("InvocationId")]
    assert len(rows) == len(tagged)
    functions = workload.function_of()
    failed = workload.failed_ids()
    requests = host_requests(store)
    for row in rows:
        assert row["function_name"] == functions[row["invocation_id"]]
        assert row["success"] is (row["invocation_id"] not in failed)
        assert row["request_duration_ms"] == requests[row["invocation_id"]]["duration"]
    assert {row["function_name"] for row in rows} == set(demo_app.FUNCTION_NAMES)
    timestamps = [row["timestamp"] for row in rows]
    assert timestamps == sorted(timestamps, reverse=True)


def test_concurrency_over_time(workload: WorkloadResult, store: TelemetryStore) -> None:
    """Query 7 charts the in-flight peaks per minute, and the burst shows more than one at once."""
    rows = run("Concurrency over time", store)
    assert {row["name"] for row in rows} == {
        "azfunc_inflight_invocations",
        "azfunc_inflight_sync",
        "azfunc_inflight_async",
        "azfunc_pool_size",
    }
    by_name: dict[str, list[float]] = {}
    for row in rows:
        assert (row["timestamp"].second, row["timestamp"].microsecond) == (0, 0)
        by_name.setdefault(row["name"], []).append(row["peak"])
    assert max(by_name["azfunc_inflight_invocations"]) > 1
    assert max(by_name["azfunc_inflight_sync"]) == POOL_SIZE
    assert set(by_name["azfunc_pool_size"]) == {POOL_SIZE}
    keys = [(row["timestamp"], row["name"]) for row in rows]
    assert keys == sorted(keys)
