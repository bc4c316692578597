"""The SQL pushdown gives the interpreter's answers: same rows, same order, same errors."""

from __future__ import annotations

import math
import pathlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from azfunc_telemetry.local.kql import KqlError, QueryResult, run_query
from azfunc_telemetry.local.kql.sql_plan import plan_query
from azfunc_telemetry.local.store import TelemetryStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
FUNCTIONS = ["Orders", "Billing", "Ship", "Ünïcode"]


def _envelope(kind: str, index: int, rng: random.Random) -> dict[str, Any]:
    moment = NOW - timedelta(seconds=rng.uniform(0, 7200))
    function = rng.choice(FUNCTIONS)
    tags = {"ai.operation.id": f"op-{index % 37}", "ai.operation.name": function}
    if rng.random() < 0.8:
        tags["ai.cloud.role"] = rng.choice(["app-a", "app-b", "APP-A"])
    properties: dict[str, Any] = {"Category": rng.choice(["Host", "Function.Orders", "Worker"])}
    if rng.random() < 0.5:
        properties["InvocationId"] = f"inv-{index % 11}"
    if kind == "MessageData":
        texts = ["start", "done", "Failed: x", "", "\u212aelvin alert", "50%_off"]
        base: dict[str, Any] = {"message": rng.choice(texts)}
        if rng.random() < 0.9:
            base["severityLevel"] = rng.randint(0, 4)
    else:
        millis = rng.choice([0.5, 12.0, 250.0, 999.9, 2400.0, 12.0])
        base = {
            "id": f"r{index}", "name": function, "success": rng.random() < 0.7,
            "duration": f"00:00:{millis / 1000:09.6f}", "responseCode": rng.choice(["200", "500"]),
        }  # fmt: skip
    base["properties"] = properties
    return {
        "iKey": "00000000-0000-0000-0000-000000000001",
        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tags": tags,
        "data": {"baseType": kind, "baseData": base},
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelemetryStore]:
    """400 traces and 150 requests over two hours, with absent roles, levels and dimensions."""
    rng = random.Random(7)
    path = pathlib.Path(tmp_path_factory.mktemp("pushdown")) / "t.db"
    with TelemetryStore(path) as opened:
        opened.insert([_envelope("MessageData", index, rng) for index in range(400)])
        opened.insert([_envelope("RequestData", index, rng) for index in range(150)])
        yield opened


class InterpreterOnly:
    """The same store seen without SQL, so every operator runs in the interpreter."""

    TABLES = TelemetryStore.TABLES

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.store.rows(table)

    def columns(self, table: str) -> tuple[str, ...]:
        return self.store.columns(table)

    def column_types(self, table: str) -> dict[str, str]:
        return self.store.column_types(table)


QUERIES = [
    "traces | where timestamp > ago(1h) | summarize count() by bin(timestamp, 5m)",
    "traces | summarize count() by tostring(customDimensions.Category)",
    "traces | summarize n = count() by Category = tostring(customDimensions['Category'])",
    "traces | where customDimensions.InvocationId == 'inv-3' | project message, operation_Id",
    "traces | where customDimensions.InvocationId != 'inv-3' | count",
    "requests | summarize percentiles(duration, 50, 95, 99) by name",
    "requests | top 10 by timestamp",
    "requests | top 5 by duration asc",
    "requests | order by duration desc, name asc | take 7",
    "requests | where success == false | summarize count(), avg(duration) by name",
    'requests | where success == "False" | summarize failures = count() by resultCode',
    "requests | where not(success) | count",
    "requests | where cloud_RoleName == '' | count",
    "requests | where cloud_RoleName != 'app-a' | summarize count() by cloud_RoleName",
    "requests | where cloud_RoleName > 'app-a' | count",
    "requests | where cloud_RoleName =~ 'app-a' | count",
    "requests | where duration between (10.0 .. 1000.0) | summarize min(duration), max(duration)",
    "requests | where duration !between (10 .. 1000) | summarize sum(duration), dcount(name)",
    "requests | where name in ('Orders', 'Ship') | summarize countif(duration > 100) by name",
    "requests | where name !in ('Orders') | summarize max(timestamp), min(name) by success",
    "requests | summarize count() by bin(timestamp, 1h), success | order by timestamp asc",
    "requests | summarize sum(itemCount) by performanceBucket | order by sum_itemCount",
    "traces | where severityLevel >= 2 | summarize count() by severityLevel"
    " | order by severityLevel",
    "traces | where severityLevel < 2 or message has 'Failed' | take 20",
    "traces | where message == '' | summarize dcount(operation_Id)",
    "traces | where isempty(message) | count",
    "traces | project timestamp, message | take 5",
    "traces | extend c = tostring(customDimensions.Category) | summarize count() by c",
    "traces | summarize count()",
    "traces | where timestamp > now() | summarize count(), max(timestamp)",
    "requests | where operation_Name == 'Ünïcode' | summarize avg(duration)",
    "requests | where timestamp > ago(30m) and duration > 100 | top 3 by duration",
    "requests | summarize count() by bin(timestamp, 7m)",
    "requests | where customDimensions['Category'] == 'Host' | summarize count() by name",
    "traces | join kind=inner (requests | project operation_Id, name) on operation_Id"
    " | summarize count() by name",
    "traces | join (requests | project operation_Id, name) on operation_Id"
    " | summarize count() by name",
    "traces | where severityLevel > 1 | join kind=inner (requests | where success == false"
    " | project operation_Id, fn = name, duration) on operation_Id | where duration > 100"
    " | project timestamp, message, fn, duration",
    "traces | where message != '' | join requests on operation_Id | take 5",
    "traces | join kind=innerunique (requests | project operation_Id, name) on operation_Id"
    " | summarize avg(severityLevel), dcount(message) by name | order by name asc",
    "traces | join kind=inner (requests | project cloud_RoleName, name) on cloud_RoleName"
    " | summarize count() by name, cloud_RoleName",
    "requests | project name, d = duration, timestamp | top 4 by d",
    "requests | top 3 by cloud_RoleName asc",
    "traces | top 7 by severityLevel",
    "traces | top 7 by severityLevel asc nulls last",
    "traces | order by severityLevel desc, timestamp asc | take 9",
    "traces | where severityLevel > 0 | top 500 by timestamp desc | count",
    "requests | top 2 by duration desc nulls first",
    "traces | top 5 by timestamp asc",
    "requests | summarize percentiles(duration, 0, 7, 33.3, 50, 95, 99, 100) by name",
    "requests | summarize percentile(duration, 90), p = percentile(duration, 10) by success",
    "traces | summarize percentiles(severityLevel, 50, 99) by operation_Name, cloud_RoleName",
    "traces | summarize percentiles(timestamp, 50) by severityLevel",
    "requests | where duration > 100 | summarize percentiles(duration, 50, 95) by name"
    " | order by name asc",
    "requests | summarize arg_max(timestamp, *) by name",
    "requests | summarize arg_min(duration, name, success) by cloud_RoleName",
    "traces | summarize arg_max(severityLevel, message) by operation_Id",
    "traces | summarize latest = arg_max(timestamp, message, severityLevel) by operation_Name"
    " | order by operation_Name asc",
    "traces | where severityLevel < 1 | summarize arg_max(severityLevel, *) by cloud_RoleName",
    "requests | summarize arg_max(duration, timestamp) by name, success | top 3 by duration",
    "traces | extend lvl = case(severityLevel >= 3, 'error', severityLevel >= 1, 'info', 'x')"
    " | summarize count() by lvl",
    "requests | extend s = iff(success, 'ok', 'failed') | summarize count() by s, name",
    "requests | extend d = iff(duration > 100, duration, 0.0) | summarize sum(d) by name",
    "requests | extend n = iff(duration > 100, 1, 2.5) | summarize count() by n",
    "traces | summarize count() by strlen(message)",
    "requests | summarize count() by strlen(name)",
    "traces | where timestamp > datetime(0001-01-01) | count",
    "traces | where timestamp between (datetime(0999-12-31) .. now()) | count",
    "traces | extend c = tostring(customDimensions.Category) | summarize count() by c",
    "traces | extend c = customDimensions.Category | where c == 'Host' | project message, c",
    "traces | extend lvl = severityLevel, hour = bin(timestamp, 1h) | where lvl > 1"
    " | summarize count() by hour, lvl | order by hour asc",
    "requests | extend slow = duration > 100 | summarize count() by slow, name",
    "requests | extend name = cloud_RoleName | project name, duration | take 4",
    "requests | project n = name, ok = success == true, c = tostring(customDimensions.Category)"
    " | where ok | take 5",
    "requests | project tostring(customDimensions.Category), duration | top 3 by duration",
    "traces | extend op = operation_Id | join (requests | project operation_Id, name)"
    " on operation_Id | count",
    "traces | project message, c = tostring(customDimensions.Category) | where c == 'Host' | count",
    "traces | project timestamp = severityLevel, m = message | top 3 by timestamp",
    "traces | project m = message, t = timestamp | project t, m | where m != '' | take 6",
    "traces | project message, lvl = severityLevel | summarize count() by lvl",
    "traces | where message contains 'kelvin' | count",
    "traces | where message has 'ALERT' | project message",
    "traces | where message startswith 'fail' and severityLevel > 1 | count",
    "traces | where message endswith '_OFF' or message =~ 'DONE' | count",
    "traces | where message contains '%_' | count",
    "traces | where message contains_cs 'Failed' | summarize count() by severityLevel",
    "traces | where customDimensions.Category contains 'order' | count",
    "requests | where name contains 'code' | project name",
    "requests | where name =~ 'ünïcode' | count",
    "union traces | union requests | where operation_Id == 'op-3'"
    " | where customDimensions['InvocationId'] == 'inv-3' | project itemType, message, name",
    "union withsource=T traces, requests | where timestamp > ago(1h) | summarize count() by T",
    "traces | union withsource=T requests | where operation_Id == 'op-5' | project T, timestamp",
    "union isfuzzy=true traces, nosuch | where severityLevel > 2 | count",
    "union tr*, req* | where cloud_RoleName == 'app-b' | summarize count() by itemType",
    "union traces, requests | where severityLevel > 1 | count",
    "union withsource=T traces | union requests | where operation_Id == 'op-5' | project T, name",
    "union traces | union isfuzzy=true nosuch, requests | where operation_Id == 'op-6' | count",
    "traces | where timestamp < ago(1h) | top 3 by timestamp",
    "traces | top 1000 by timestamp | count",
]


def _same(left: QueryResult, right: QueryResult) -> bool:
    if left.columns != right.columns or len(left.rows) != len(right.rows):
        return False
    for row_a, row_b in zip(left.rows, right.rows, strict=True):
        for a, b in zip(row_a, row_b, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif a != b or type(a) is not type(b):
                return False
    return True


@pytest.mark.parametrize("query", QUERIES)
def test_pushdown_matches_interpreter(store: TelemetryStore, query: str) -> None:
    """SQL pushdown and the interpreter return the same columns, rows, order and value types."""
    pushed = run_query(query, store, now=NOW)
    interpreted = run_query(query, InterpreterOnly(store), now=NOW)
    assert _same(pushed, interpreted), (pushed.as_dicts()[:3], interpreted.as_dicts()[:3])
    assert pushed.rows  # every query in the list selects something on this data


@pytest.mark.parametrize(
    ("query", "consumed"),
    [
        ("traces | where timestamp > ago(1h) | summarize count() by bin(timestamp, 5m)", 2),
        ("traces | summarize count() by tostring(customDimensions.Category)", 1),
        ("requests | top 10 by timestamp", 1),
        ("requests | where success == false | order by duration | take 3", 3),
        ("requests | where name =~ 'orders' | count", 0),
        ("requests | summarize percentiles(duration, 50) by name", 1),
        (
            "traces | join (requests | project operation_Id, name) on operation_Id"
            " | summarize count() by name",
            2,
        ),
        ("traces | join kind=leftouter (requests) on operation_Id | count", 0),
        ("requests | summarize arg_max(timestamp, *) by name", 1),
        (
            "traces | extend lvl = iff(severityLevel > 2, 'hi', 'lo') | summarize count() by lvl",
            2,
        ),
    ],
)
def test_planner_pushes_the_common_shapes(store: TelemetryStore, query: str, consumed: int) -> None:
    """Filters on indexed columns, common summaries and top/order/take run in SQLite."""
    from azfunc_telemetry.local.kql.expressions import ExpressionEvaluator
    from azfunc_telemetry.local.kql.parser import parse

    script = parse(query)
    table = script.query.source
    assert not isinstance(table, ast_query_types())
    plan = plan_query(
        table.name,  # type: ignore[union-attr]
        store.column_types(table.name),  # type: ignore[union-attr]
        script.query.operators,
        ExpressionEvaluator(NOW, {}),
        store.column_types,
    )
    assert plan.consumed == consumed


def ast_query_types() -> tuple[type, ...]:
    """The source kinds that are not a plain table reference."""
    from azfunc_telemetry.local.kql import syntax

    return (syntax.Query, syntax.Union)


def test_pruned_read_selects_only_mentioned_columns(store: TelemetryStore) -> None:
    """A make_set query over requests reads just the columns it names, never the JSON ones."""
    from azfunc_telemetry.local.kql.expressions import ExpressionEvaluator
    from azfunc_telemetry.local.kql.parser import parse

    script = parse("requests | summarize make_set(duration) by name")
    plan = plan_query(
        "requests", store.column_types("requests"), script.query.operators,
        ExpressionEvaluator(NOW, {}),
    )  # fmt: skip
    assert plan.columns == ["name", "duration"]
    assert "customDimensions" not in plan.sql


@pytest.mark.parametrize(
    "query",
    [
        "requests | where name == 5",
        "requests | summarize countt() by name",
        "requests | top 3 by nosuch",
        "requests | take -1",
    ],
)
def test_pushdown_reports_the_interpreters_errors(store: TelemetryStore, query: str) -> None:
    """An error is the same message at the same position with or without SQL."""
    with pytest.raises(KqlError) as pushed:
        run_query(query, store, now=NOW)
    with pytest.raises(KqlError) as interpreted:
        run_query(query, InterpreterOnly(store), now=NOW)
    assert (pushed.value.message, pushed.value.position) == (
        interpreted.value.message,
        interpreted.value.position,
    )


def test_case_insensitive_filters_narrow_the_read_and_keep_unicode_matches(
    store: TelemetryStore,
) -> None:
    """`contains` gets a LIKE pre-filter in SQL, yet the Kelvin sign still matches 'kelvin'."""
    from azfunc_telemetry.local.kql.expressions import ExpressionEvaluator
    from azfunc_telemetry.local.kql.parser import parse

    query = "traces | where message contains 'kelvin' | project message"
    script = parse(query)
    plan = plan_query(
        "traces", store.column_types("traces"), script.query.operators,
        ExpressionEvaluator(NOW, {}),
    )  # fmt: skip
    assert plan.consumed == 0
    assert "LIKE '%kelvin%'" in plan.sql
    found = run_query(query, store, now=NOW).rows
    assert found
    assert {row[0] for row in found} == {"\u212aelvin alert"}


def test_queries_run_on_a_database_lacking_newer_columns(tmp_path: pathlib.Path) -> None:
    """A store file without the newer columns (not migrated yet) still answers; they read empty."""
    import sqlite3

    rng = random.Random(3)
    with TelemetryStore(tmp_path / "old.db") as opened:
        opened.insert([_envelope("MessageData", index, rng) for index in range(20)])
        other = sqlite3.connect(tmp_path / "old.db")
        other.execute('ALTER TABLE "traces" DROP COLUMN "client_Type"')
        other.commit()
        other.close()
        assert opened.rows("traces")[0]["client_Type"] is None
        for query in (
            "traces | summarize count() by client_Type",
            "traces | top 3 by timestamp | project client_Type, message",
            "traces | where client_Type == '' | count",
        ):
            pushed = run_query(query, opened, now=NOW)
            assert _same(pushed, run_query(query, InterpreterOnly(opened), now=NOW)), query
        assert run_query("traces | where client_Type == '' | count", opened).rows == [[20]]


def test_operation_filter_and_top_by_time_use_the_store_indexes(store: TelemetryStore) -> None:
    """SQLite answers `operation_Id ==` and `top N by timestamp` from the store's indexes."""
    from azfunc_telemetry.local.kql.expressions import ExpressionEvaluator
    from azfunc_telemetry.local.kql.parser import parse

    for query, index in (
        ("traces | where operation_Id == 'op-3' | project message", "ix_traces_operation_Id"),
        ("traces | top 5 by timestamp", "ix_traces_timestamp"),
        ("traces | where timestamp > ago(5m) | project message", "ix_traces_timestamp"),
    ):
        script = parse(query)
        plan = plan_query(
            "traces", store.column_types("traces"), script.query.operators,
            ExpressionEvaluator(NOW, {}),
        )  # fmt: skip
        explained = " ".join(str(row) for row in store.read_sql(f"EXPLAIN QUERY PLAN {plan.sql}"))
        assert index in explained, explained
