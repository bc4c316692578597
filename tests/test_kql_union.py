"""``union`` in every form and ``customDimensions['Name']`` / ``customDimensions.['Name']``."""

from __future__ import annotations

import pathlib
from datetime import datetime, timezone
from typing import Any

import pytest
from test_kql import EXCEPTIONS, METRICS, REQUESTS, TRACES, MemorySource

from azfunc_telemetry.local.kql import KqlError, TableSource, run_query
from azfunc_telemetry.local.store import TABLES, TelemetryStore


@pytest.fixture
def source() -> TableSource:
    """The operator tests' two minutes of function-app telemetry."""
    return MemorySource(
        {"requests": REQUESTS, "traces": TRACES, "exceptions": EXCEPTIONS, "customMetrics": METRICS}
    )


def _envelope(base_type: str, base_data: dict[str, Any], operation: str) -> dict[str, Any]:
    return {
        "iKey": "00000000-0000-0000-0000-000000000001",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tags": {"ai.operation.id": operation, "ai.cloud.role": "orders-app"},
        "data": {"baseType": base_type, "baseData": base_data},
    }


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Any:
    """A real store holding one invocation's request, two traces and an exception."""
    dims = {"InvocationId": "inv-7", "Category": "Function.Orders"}
    with TelemetryStore(tmp_path / "t.db") as opened:
        opened.insert(
            [
                _envelope(
                    "RequestData",
                    {"id": "r1", "name": "Orders", "duration": "00:00:00.010", "success": True,
                     "responseCode": "200", "properties": dims},
                    "op-7",
                ),
                _envelope("MessageData", {"message": "start", "properties": dims}, "op-7"),
                _envelope("MessageData", {"message": "other", "properties": {}}, "op-7"),
                _envelope(
                    "ExceptionData",
                    {"exceptions": [{"typeName": "ValueError", "message": "bad"}],
                     "properties": dims},
                    "op-7",
                ),
                _envelope("MessageData", {"message": "elsewhere", "properties": dims}, "op-8"),
            ]
        )  # fmt: skip
        yield opened


def test_portal_invocation_query_unions_piped_tables_and_filters_by_dimension(
    store: TelemetryStore,
) -> None:
    """The portal's invocation-log query finds the traces and exception of one invocation."""
    result = run_query(
        "union traces | union exceptions | where operation_Id == 'op-7'"
        " | where customDimensions['InvocationId'] == 'inv-7' | project itemType, message",
        store,
    )
    assert sorted(map(tuple, result.rows)) == [("exception", "bad"), ("trace", "start")]


def test_dot_bracket_property_access_equals_bracket_access(store: TelemetryStore) -> None:
    """``customDimensions.['Name']`` reads the same property as ``customDimensions['Name']``."""
    dotted = run_query("traces | project v = customDimensions.['InvocationId']", store)
    bracket = run_query("traces | project v = customDimensions['InvocationId']", store)
    assert dotted.rows == bracket.rows
    assert sorted(row[0] or "" for row in dotted.rows) == ["", "inv-7", "inv-7"]


def test_union_star_reads_every_table_of_the_store(store: TelemetryStore) -> None:
    """``union *`` with ``withsource`` counts rows per table across all of the store's tables."""
    result = run_query(
        "union withsource=SourceTable * | summarize n = count() by SourceTable", store
    )
    assert dict(map(tuple, result.rows)) == {"requests": 1, "traces": 3, "exceptions": 1}
    assert set(TABLES) >= {row[0] for row in result.rows}


def test_union_wildcard_pattern_matches_table_names(store: TelemetryStore) -> None:
    """``union t*`` expands to the tables whose names match the pattern."""
    result = run_query("union withsource=T tr* | distinct T", store)
    assert result.rows == [["traces"]]


def test_union_table_list_outer_keeps_all_columns_with_empty_cells(source: TableSource) -> None:
    """The default outer union keeps every column and leaves the others' cells null."""
    result = run_query("union requests, traces | project name, message", source)
    assert len(result.rows) == len(REQUESTS) + len(TRACES)
    assert [row[0] for row in result.rows[: len(REQUESTS)]] == [r["name"] for r in REQUESTS]
    assert all(row[0] is None for row in result.rows[len(REQUESTS) :])
    assert [row[1] for row in result.rows[len(REQUESTS) :]] == [t["message"] for t in TRACES]


def test_union_inner_keeps_only_shared_columns(source: TableSource) -> None:
    """``kind=inner`` keeps only the columns every leg has."""
    result = run_query("union kind=inner requests, traces | take 1", source)
    assert "name" not in result.columns
    assert "message" not in result.columns
    assert "operation_Id" in result.columns
    assert "customDimensions" in result.columns


def test_union_with_subquery_legs_names_them_union_arg(source: TableSource) -> None:
    """A parenthesised leg is reported by ``withsource`` as ``union_argN``."""
    result = run_query(
        "union withsource=S (requests | where success == false), traces | summarize count() by S",
        source,
    )
    failed = sum(1 for r in REQUESTS if not r["success"])
    assert dict(map(tuple, result.rows)) == {"union_arg0": failed, "traces": len(TRACES)}


def test_piped_union_names_input_table_and_numbers_later_subqueries(source: TableSource) -> None:
    """After a pipe the input leg keeps its table name and subqueries count from union_arg1."""
    result = run_query(
        "traces | union withsource=S (requests | take 2) | summarize count() by S", source
    )
    assert dict(map(tuple, result.rows)) == {"traces": len(TRACES), "union_arg1": 2}


def test_union_missing_table_fails_unless_fuzzy(source: TableSource) -> None:
    """A missing table is an error at its position unless ``isfuzzy=true`` skips it."""
    with pytest.raises(KqlError) as raised:
        run_query("union traces, nosuch", source)
    assert raised.value.position == len("union traces, ")
    result = run_query("union isfuzzy=true traces, nosuch | count", source)
    assert result.rows == [[len(TRACES)]]
    with pytest.raises(KqlError, match="none of the union"):
        run_query("union isfuzzy=true nosuch, alsonot", source)


def test_let_binds_a_union(source: TableSource) -> None:
    """``let x = union a, b;`` binds a table later pipelines start from."""
    result = run_query("let both = union requests, exceptions; both | count", source)
    assert result.rows == [[len(REQUESTS) + len(EXCEPTIONS)]]


def test_union_rejects_unknown_parameters(source: TableSource) -> None:
    """An unknown ``union`` parameter is named in the error."""
    with pytest.raises(KqlError, match="unknown union parameter 'flavour'"):
        run_query("union flavour=x traces", source)
