"""Operators, joins and the README cookbook queries of the local KQL engine, on realistic rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import azfunc_telemetry.local.kql as kql
from azfunc_telemetry.local.kql import KqlError, QueryResult, TableSource, run_query
from azfunc_telemetry.local.store import COLUMN_TYPES

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

#: The store's columns of the tables the fixture fills (``test_store.py`` pins them).
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(COLUMN_TYPES[table])
    for table in ("traces", "requests", "exceptions", "customMetrics")
}


def _row(table: str, seconds: float, operation_id: str, **values: Any) -> dict[str, Any]:
    """A row with every column of ``table`` filled the way the store fills them."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS[table], "")
    row.update(
        timestamp=T0 + timedelta(seconds=seconds),
        itemType=table.rstrip("s"),
        itemId=f"{table}-{seconds}",
        itemCount=1,
        operation_Id=operation_id,
        cloud_RoleName="orders-app",
        customDimensions={},
        customMeasurements={},
    )
    row.update(values)
    return row


def _invocation(number: int, function: str, **extra: str) -> dict[str, str]:
    return {"invocation_id": f"inv-{number}", "function_name": function, **extra}


def _request(
    seconds: float, number: int, name: str, duration: float, success: bool, **extra: str
) -> dict[str, Any]:
    return _row(
        "requests", seconds, f"op-{number}", id=f"req-{number}", name=name, duration=duration,
        success=success, resultCode="200" if success else "500",
        customDimensions=_invocation(number, name, **extra),
    )  # fmt: skip


def _trace(seconds: float, number: int, message: str, severity: int) -> dict[str, Any]:
    dimensions = _invocation(number, "HttpTrigger" if number in (1, 2, 4) else "QueueWorker")
    return _row(
        "traces", seconds, f"op-{number}", message=message, severityLevel=severity,
        customDimensions=dimensions,
    )  # fmt: skip


def _metric(seconds: float, name: str, value: float) -> dict[str, Any]:
    value = float(value)  # the store decodes `real` columns to floats
    return _row(
        "customMetrics", seconds, "", name=name, value=value, valueCount=1, valueSum=value,
        valueMin=value, valueMax=value, valueStdDev=0.0,
    )  # fmt: skip


REQUESTS = [
    _request(0, 1, "HttpTrigger", 12.0, True, pool_wait_ms="0"),
    _request(20, 2, "HttpTrigger", 48.0, False, pool_wait_ms="35"),
    _request(65, 3, "QueueWorker", 250.0, True, pool_wait_ms="120"),
    _request(90, 4, "HttpTrigger", 30.0, True),
    _request(130, 5, "QueueWorker", 150.0, False, pool_wait_ms="7"),
]
TRACES = [
    _row("traces", -10, "", message="Host started", severityLevel=1),
    _trace(20.040, 2, "Database timeout after 30s", 3),
    _trace(0.001, 1, "Executing 'Functions.HttpTrigger'", 1),
    _trace(0.005, 1, "Fetched user 42", 1),
    _trace(20.0, 2, "Executing 'Functions.HttpTrigger'", 1),
    _trace(65.2, 3, "Slow downstream call", 2),
    _trace(65.01, 3, "Processing queue message", 1),
]
EXCEPTIONS = [
    _row("exceptions", 20.045, "op-2", type="TimeoutError", outerType="TimeoutError",
         outerMessage="Database timeout after 30s", severityLevel=3, details=[{"message": "x"}]),
    _row("exceptions", 130.1, "op-5", type="ValueError", outerType="ValueError",
         outerMessage="bad payload", severityLevel=3, details=[]),
    _row("exceptions", 300, "op-9", type="KeyError", outerType="KeyError",
         outerMessage="'missing'", severityLevel=3, details=[]),
]  # fmt: skip
METRICS = [
    _metric(5, "azfunc_inflight_invocations", 1),
    _metric(25, "azfunc_inflight_invocations", 3),
    _metric(40, "azfunc_inflight_invocations", 2),
    _metric(41, "azfunc_pool_wait_ms", 99),
    _metric(70, "azfunc_inflight_invocations", 4),
    _metric(100, "azfunc_inflight_invocations", 1),
    _metric(135, "azfunc_inflight_invocations", 2),
]


class MemorySource:
    """An in-memory table source shaped like the local telemetry store."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        self.tables = tables

    def columns(self, table: str) -> tuple[str, ...]:
        if table not in COLUMNS:
            raise ValueError(f"unknown table {table!r}")
        return COLUMNS[table]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.tables.get(table, [])]


@pytest.fixture
def source() -> TableSource:
    """Two minutes of telemetry from a function app with an HTTP and a queue function."""
    return MemorySource(
        {"requests": REQUESTS, "traces": TRACES, "exceptions": EXCEPTIONS, "customMetrics": METRICS}
    )


def at(seconds: float) -> datetime:
    """The fixture's start time plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


# --- public API ---------------------------------------------------------------------------------


def test_package_exports_sorted_public_api() -> None:
    """The package re-exports exactly the documented names in a sorted ``__all__``."""
    assert kql.__all__ == sorted(kql.__all__)
    assert set(kql.__all__) == {
        "KqlError",
        "QueryResult",
        "RenderHint",
        "TableSource",
        "format_table",
        "run_query",
    }


def test_query_result_as_dicts_pairs_columns_with_cells() -> None:
    """``as_dicts`` zips every row with the column names."""
    result = QueryResult(["a", "b"], [[1, "x"], [2, "y"]])
    assert result.as_dicts() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_table_alone_returns_all_rows_and_columns(source: TableSource) -> None:
    """A bare table name yields its rows in store order with the store's columns."""
    result = run_query("requests", source)
    assert result.columns == list(COLUMNS["requests"])
    assert [row["id"] for row in result.as_dicts()] == [f"req-{n}" for n in range(1, 6)]


# --- README cookbook ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "columns", "rows"),
    [
        pytest.param(
            'traces | where customDimensions.invocation_id == "inv-2"'
            " | project timestamp, message, severityLevel | order by timestamp asc",
            ["timestamp", "message", "severityLevel"],
            [
                [at(20.0), "Executing 'Functions.HttpTrigger'", 1],
                [at(20.040), "Database timeout after 30s", 3],
            ],
            id="1-all-logs-of-one-invocation-in-time-order",
        ),
        pytest.param(
            "requests | summarize count(), avg(duration), percentile(duration, 95), max(duration)"
            " by name | order by avg_duration desc",
            ["name", "count_", "avg_duration", "percentile_duration_95", "max_duration"],
            [
                ["QueueWorker", 2, 200.0, 250.0, 250.0],
                ["HttpTrigger", 3, 30.0, 48.0, 48.0],
            ],
            id="2-count-avg-p95-max-duration-per-function-slowest-first",
        ),
        pytest.param(
            "requests | where toint(customDimensions.pool_wait_ms) > 0"
            " | project name, duration, pool_wait_ms = toint(customDimensions.pool_wait_ms)"
            " | order by pool_wait_ms desc | take 10",
            ["name", "duration", "pool_wait_ms"],
            [
                ["QueueWorker", 250.0, 120],
                ["HttpTrigger", 48.0, 35],
                ["QueueWorker", 150.0, 7],
            ],
            id="4-string-dimension-through-toint-filtered-named-sorted",
        ),
        pytest.param(
            'customMetrics | where name == "azfunc_inflight_invocations"'
            " | summarize max(value) by bin(timestamp, 1m) | order by timestamp asc",
            ["timestamp", "max_value"],
            [[at(0), 3.0], [at(60), 4.0], [at(120), 2.0]],
            id="6-in-flight-gauge-maximum-per-minute-in-time-order",
        ),
    ],
)
def test_cookbook_query_returns_its_table(
    source: TableSource, query: str, columns: list[str], rows: list[list[Any]]
) -> None:
    """Cookbook 1, 2, 4 and 6: the query answers with exactly these columns and rows."""
    result = run_query(query, source)
    assert result.columns == columns
    assert result.rows == rows


def test_cookbook_failed_requests_with_their_exception(source: TableSource) -> None:
    """Cookbook 3: failed requests joined to the exception of the same operation."""
    result = run_query(
        "requests | where success == false"
        " | join kind=inner (exceptions | project operation_Id, type, outerMessage) on operation_Id"
        " | project timestamp, name, type, outerMessage",
        source,
    )
    assert result.as_dicts() == [
        {"timestamp": at(20), "name": "HttpTrigger", "type": "TimeoutError",
         "outerMessage": "Database timeout after 30s"},
        {"timestamp": at(130), "name": "QueueWorker", "type": "ValueError",
         "outerMessage": "bad payload"},
    ]  # fmt: skip


def test_cookbook_logs_joined_to_their_request(source: TableSource) -> None:
    """Cookbook 5: each log line with its request's name and duration; orphan logs drop out."""
    result = run_query(
        "traces | join kind=inner (requests | project operation_Id, request_name = name,"
        " request_duration = duration) on operation_Id"
        " | project timestamp, message, request_name, request_duration",
        source,
    )
    assert result.rows == [
        [at(20.040), "Database timeout after 30s", "HttpTrigger", 48.0],
        [at(0.001), "Executing 'Functions.HttpTrigger'", "HttpTrigger", 12.0],
        [at(0.005), "Fetched user 42", "HttpTrigger", 12.0],
        [at(20.0), "Executing 'Functions.HttpTrigger'", "HttpTrigger", 48.0],
        [at(65.2), "Slow downstream call", "QueueWorker", 250.0],
        [at(65.01), "Processing queue message", "QueueWorker", 250.0],
    ]


# --- single-table operators ---------------------------------------------------------------------


def test_where_keeps_only_rows_where_predicate_is_true(source: TableSource) -> None:
    """``where`` with ``and``/``or`` keeps exactly the matching rows."""
    result = run_query(
        'requests | where duration > 20 and (name == "QueueWorker" or success == false)'
        " | project id",
        source,
    )
    assert result.rows == [["req-2"], ["req-3"], ["req-5"]]


def test_filter_is_a_synonym_of_where(source: TableSource) -> None:
    """``filter`` behaves like ``where``."""
    result = run_query("requests | filter success | count", source)
    assert result.rows == [[3]]


def test_project_renames_computes_and_names_dimensions(source: TableSource) -> None:
    """``project`` keeps order, renames, computes, and names ``customDimensions.x`` like Kusto."""
    result = run_query(
        "requests | take 1 | project id, ms = duration * 2, customDimensions.invocation_id,"
        " customDimensions['function_name'], strlen(name)",
        source,
    )
    assert result.columns == [
        "id", "ms", "customDimensions_invocation_id", "customDimensions_function_name", "Column1",
    ]  # fmt: skip
    assert result.rows == [["req-1", 24.0, "inv-1", "HttpTrigger", 11]]


def test_project_away_drops_columns(source: TableSource) -> None:
    """``project-away`` removes the listed columns and keeps the rest in order."""
    result = run_query("exceptions | project-away customDimensions, details | take 1", source)
    assert "details" not in result.columns
    assert "customDimensions" not in result.columns
    assert result.columns[:2] == ["timestamp", "itemType"]


def test_project_rename_renames_in_place(source: TableSource) -> None:
    """``project-rename`` changes a column's name without moving it."""
    result = run_query(
        "requests | project id, name | project-rename function = name | take 1", source
    )
    assert result.columns == ["id", "function"]
    assert result.rows == [["req-1", "HttpTrigger"]]


def test_extend_adds_and_replaces_columns(source: TableSource) -> None:
    """``extend`` appends new columns, may use earlier ones, and replaces an existing name."""
    result = run_query(
        "requests | project id, duration | extend seconds = duration / 1000, slow = seconds > 0.1,"
        " duration = round(duration) | take 3",
        source,
    )
    assert result.columns == ["id", "duration", "seconds", "slow"]
    assert result.rows == [
        ["req-1", 12.0, 0.012, False],
        ["req-2", 48.0, 0.048, False],
        ["req-3", 250.0, 0.25, True],
    ]


def test_order_by_defaults_to_descending(source: TableSource) -> None:
    """``order by`` without a direction sorts descending, as Kusto does."""
    result = run_query("requests | order by duration | project duration", source)
    assert [row[0] for row in result.rows] == [250.0, 150.0, 48.0, 30.0, 12.0]


def test_sort_by_several_keys_with_directions(source: TableSource) -> None:
    """``sort by`` takes several keys, each with its own direction."""
    result = run_query(
        "requests | sort by name asc, duration desc | project name, duration", source
    )
    assert result.rows == [
        ["HttpTrigger", 48.0], ["HttpTrigger", 30.0], ["HttpTrigger", 12.0],
        ["QueueWorker", 250.0], ["QueueWorker", 150.0],
    ]  # fmt: skip


def test_order_by_places_nulls_as_kusto_does(source: TableSource) -> None:
    """Nulls sort first ascending, last descending, unless ``nulls first|last`` says otherwise."""
    query = "requests | extend w = toint(customDimensions.pool_wait_ms) | order by w {} | project w"
    assert [r[0] for r in run_query(query.format("asc"), source).rows] == [None, 0, 7, 35, 120]
    assert [r[0] for r in run_query(query.format("desc"), source).rows] == [120, 35, 7, 0, None]
    ordered = run_query(query.format("desc nulls first"), source).rows
    assert [r[0] for r in ordered] == [None, 120, 35, 7, 0]


def test_top_sorts_then_takes(source: TableSource) -> None:
    """``top N by x`` returns the N largest (or smallest with ``asc``)."""
    assert run_query("requests | top 2 by duration | project id", source).rows == [
        ["req-3"],
        ["req-5"],
    ]
    assert run_query("requests | top 1 by duration asc | project id", source).rows == [["req-1"]]


@pytest.mark.parametrize("operator", ["take", "limit"])
def test_take_and_limit_return_first_rows(source: TableSource, operator: str) -> None:
    """``take``/``limit`` keep the first N rows in their current order."""
    result = run_query(f"requests | {operator} 2 | project id", source)
    assert result.rows == [["req-1"], ["req-2"]]


def test_count_operator_returns_single_count_column(source: TableSource) -> None:
    """The ``count`` operator yields one row with column ``Count``."""
    result = run_query("traces | where severityLevel >= 2 | count", source)
    assert result.columns == ["Count"]
    assert result.rows == [[2]]


def test_distinct_returns_unique_combinations_in_first_seen_order(source: TableSource) -> None:
    """``distinct`` lists each combination once, in the order first met."""
    result = run_query("requests | distinct name, success", source)
    assert result.columns == ["name", "success"]
    assert result.rows == [
        ["HttpTrigger", True],
        ["HttpTrigger", False],
        ["QueueWorker", True],
        ["QueueWorker", False],
    ]
    assert len(run_query("requests | project name | distinct *", source).rows) == 2


def test_render_is_recorded_as_a_chart_hint(source: TableSource) -> None:
    """A trailing ``render`` keeps the rows and is recorded for viewers as a chart hint."""
    charted = run_query(
        "requests | summarize count() by name | render barchart with (title='x', kind=stacked)",
        source,
    )
    plain = run_query("requests | summarize count() by name", source)
    assert (charted.columns, charted.rows) == (plain.columns, plain.rows)
    assert charted.render == kql.RenderHint("barchart", {"title": "x", "kind": "stacked"})
    assert plain.render is None


def test_let_statements_bind_scalars_and_tables(source: TableSource) -> None:
    """``let`` binds scalars and tabular pipelines used by later statements and joins."""
    result = run_query(
        """
        let threshold = 40.0;   // milliseconds
        let failed = requests | where success == false;
        let errors = exceptions;
        failed
        | where duration > threshold
        | join kind=inner (errors) on operation_Id
        | project id, type
        """,
        source,
    )
    assert result.rows == [["req-2", "TimeoutError"], ["req-5", "ValueError"]]


def test_ago_uses_injected_now(source: TableSource) -> None:
    """``ago()`` counts back from the ``now`` given to run_query (boundary excluded by ``>``)."""
    result = run_query("requests | where timestamp > ago(1m) | project id", source, now=at(150))
    assert result.rows == [["req-5"]]
    result = run_query("requests | where timestamp >= ago(1m) | project id", source, now=at(150))
    assert result.rows == [["req-4"], ["req-5"]]


def test_now_is_fixed_for_the_whole_query(source: TableSource) -> None:
    """Every ``now()`` in a query returns the same injected instant."""
    result = run_query("requests | take 2 | project n = now(), m = now(-1h)", source, now=at(0))
    assert result.rows == [[at(0), at(-3600)], [at(0), at(-3600)]]


# --- summarize ----------------------------------------------------------------------------------


def test_summarize_each_aggregate_with_default_names(source: TableSource) -> None:
    """Every aggregate computes the right value under Kusto's default column name."""
    result = run_query(
        "requests | summarize count(), countif(success == false), dcount(name), sum(duration),"
        " avg(duration), min(duration), max(duration), percentile(duration, 50),"
        " make_list(id), make_set(name), sumif(duration, success), stdev(duration)",
        source,
    )
    assert result.as_dicts() == [
        {
            "count_": 5,
            "countif_": 2,
            "dcount_name": 2,
            "sum_duration": 490.0,
            "avg_duration": 98.0,
            "min_duration": 12.0,
            "max_duration": 250.0,
            "percentile_duration_50": 48.0,
            "list_id": ["req-1", "req-2", "req-3", "req-4", "req-5"],
            "set_name": ["HttpTrigger", "QueueWorker"],
            "sumif_duration": 292.0,
            "stdev_duration": pytest.approx(100.40916, abs=1e-5),
        }
    ]


def test_summarize_by_multiple_keys_including_bin(source: TableSource) -> None:
    """Grouping by a column and ``bin(timestamp, 1m)`` names the bin column ``timestamp``."""
    result = run_query(
        "requests | summarize n = count(), total = sum(duration)"
        " by name, bin(timestamp, 1m) | order by name asc, timestamp asc",
        source,
    )
    assert result.columns == ["name", "timestamp", "n", "total"]
    assert result.rows == [
        ["HttpTrigger", at(0), 2, 60.0],
        ["HttpTrigger", at(60), 1, 30.0],
        ["QueueWorker", at(60), 1, 250.0],
        ["QueueWorker", at(120), 1, 150.0],
    ]


def test_summarize_by_dimension_and_expression_over_aggregates(source: TableSource) -> None:
    """Group keys may be dimensions; aggregates may be combined arithmetically."""
    result = run_query(
        "requests | summarize failure_pct = 100.0 * countif(success == false) / count()"
        " by tostring(customDimensions.function_name)"
        " | order by customDimensions_function_name asc",
        source,
    )
    assert result.columns == ["customDimensions_function_name", "failure_pct"]
    assert result.rows == [["HttpTrigger", pytest.approx(100 / 3)], ["QueueWorker", 50.0]]


def test_summarize_percentiles_on_known_distribution() -> None:
    """Nearest-rank percentiles over 1..100 and over a four-value set."""
    hundred = [_metric(i, "m", float(i)) for i in range(1, 101)]
    result = run_query(
        "customMetrics | summarize percentile(value, 0), percentiles(value, 50, 95, 99.5)",
        MemorySource({"customMetrics": hundred}),
    )
    assert result.as_dicts() == [
        {
            "percentile_value_0": 1.0,
            "percentile_value_50": 50.0,
            "percentile_value_95": 95.0,
            "percentile_value_99_5": 100.0,
        }
    ]
    four = [_metric(i, "m", v) for i, v in enumerate([40.0, 10.0, 30.0, 20.0])]
    result = run_query(
        "customMetrics | summarize percentiles(value, 25, 50, 75, 95)",
        MemorySource({"customMetrics": four}),
    )
    assert result.rows == [[10.0, 20.0, 30.0, 40.0]]


def test_summarize_on_empty_input() -> None:
    """Without ``by`` an empty table gives one row of defaults; with ``by`` it gives none."""
    empty = MemorySource({})
    result = run_query("requests | summarize count(), sum(duration), avg(duration)", empty)
    assert result.rows == [[0, 0, None]]
    assert run_query("requests | summarize count() by name", empty).rows == []


def test_summarize_by_alone_lists_distinct_keys(source: TableSource) -> None:
    """``summarize by x`` without aggregates returns the distinct keys."""
    assert run_query("requests | summarize by name", source).rows == [
        ["HttpTrigger"],
        ["QueueWorker"],
    ]


def test_summarize_repeated_default_names_get_suffixes(source: TableSource) -> None:
    """A default name already taken gets Kusto's numeric suffix."""
    result = run_query("requests | summarize max(duration), max(duration)", source)
    assert result.columns == ["max_duration", "max_duration1"]


# --- join ---------------------------------------------------------------------------------------


def test_join_inner_includes_right_key_with_suffix(source: TableSource) -> None:
    """An inner join lists left then right columns; a clashing right name gets ``1``."""
    result = run_query(
        "requests | project operation_Id, name"
        " | join kind=inner (exceptions | project operation_Id, type) on operation_Id",
        source,
    )
    assert result.columns == ["operation_Id", "name", "operation_Id1", "type"]
    assert result.rows == [
        ["op-2", "HttpTrigger", "op-2", "TimeoutError"],
        ["op-5", "QueueWorker", "op-5", "ValueError"],
    ]


def test_join_leftouter_keeps_unmatched_left_rows_with_nulls(source: TableSource) -> None:
    """``leftouter`` keeps every left row; unmatched ones get null right columns."""
    result = run_query(
        "requests | project operation_Id"
        " | join kind=leftouter (exceptions | project operation_Id, type) on operation_Id"
        " | project operation_Id, type",
        source,
    )
    assert result.rows == [
        ["op-1", None], ["op-2", "TimeoutError"], ["op-3", None], ["op-4", None],
        ["op-5", "ValueError"],
    ]  # fmt: skip


def test_join_on_left_and_right_column_names(source: TableSource) -> None:
    """``on $left.a == $right.b`` joins columns with different names."""
    result = run_query(
        "exceptions | project op = operation_Id, type"
        " | join kind=inner (requests | project operation_Id, name)"
        " on $left.op == $right.operation_Id"
        " | project type, name",
        source,
    )
    assert result.rows == [["TimeoutError", "HttpTrigger"], ["ValueError", "QueueWorker"]]


def test_join_default_kind_is_innerunique(source: TableSource) -> None:
    """Without ``kind`` only the first left row per key is joined, as in Kusto."""
    result = run_query(
        "traces | join (requests | project operation_Id, name) on operation_Id | project message",
        source,
    )
    assert result.rows == [["Database timeout after 30s"], ["Executing 'Functions.HttpTrigger'"],
                           ["Slow downstream call"]]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("leftsemi", [["op-2"], ["op-5"]]),
        ("leftanti", [["op-1"], ["op-3"], ["op-4"]]),
        ("rightsemi", [["op-2"], ["op-5"]]),
        ("rightanti", [["op-9"]]),
    ],
)
def test_join_semi_and_anti_kinds(
    source: TableSource, kind: str, expected: list[list[str]]
) -> None:
    """Semi joins keep matched rows of one side, anti joins the unmatched ones."""
    result = run_query(
        f"requests | project operation_Id | join kind={kind}"
        " (exceptions | project operation_Id) on operation_Id",
        source,
    )
    assert result.columns == ["operation_Id"]
    assert result.rows == expected


def test_join_fullouter_keeps_both_sides(source: TableSource) -> None:
    """``fullouter`` adds unmatched right rows after the left ones."""
    result = run_query(
        "requests | where success == false | project operation_Id"
        " | join kind=fullouter (exceptions | project operation_Id) on operation_Id",
        source,
    )
    assert result.rows == [["op-2", "op-2"], ["op-5", "op-5"], [None, "op-9"]]


def test_join_with_unknown_key_column_reports_its_side(source: TableSource) -> None:
    """A join key missing on the right is reported at the key's position."""
    query = "requests | join kind=inner (exceptions | project type) on operation_Id"
    with pytest.raises(KqlError) as caught:
        run_query(query, source)
    assert caught.value.message == "unknown column 'operation_Id' in the right side of the join"
    assert caught.value.position == query.index("operation_Id")
