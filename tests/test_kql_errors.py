"""Errors of the local KQL engine: each names the problem and points at the offending token."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from azfunc_telemetry.local.kql import KqlError, run_query

COLUMNS = {
    "requests": ("timestamp", "name", "duration", "success", "customDimensions"),
    "exceptions": ("timestamp", "operation_Id", "type"),
}
ROWS: dict[str, list[dict[str, Any]]] = {
    "requests": [
        {
            "timestamp": datetime(2024, 5, 1, tzinfo=timezone.utc),
            "name": "HttpTrigger",
            "duration": 12.0,
            "success": True,
            "customDimensions": {},
        }
    ],
    "exceptions": [],
}


class StoreLikeSource:
    """Two tables; unknown names raise ``ValueError`` as the telemetry store does."""

    def columns(self, table: str) -> tuple[str, ...]:
        if table not in COLUMNS:
            raise ValueError(f"unknown table {table!r}")
        return COLUMNS[table]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for row in ROWS[table]]


def error_of(query: str) -> KqlError:
    """The error raised by running ``query``."""
    with pytest.raises(KqlError) as caught:
        run_query(query, StoreLikeSource())
    return caught.value


@pytest.mark.parametrize(
    ("query", "message", "offending"),
    [
        ("requests | frobnicate", "unknown operator 'frobnicate'", "frobnicate"),
        (
            "requests | mv-expand kind=array customDimensions",
            "mv-expand 'kind' is not supported",
            "kind",
        ),
        (
            "requests | parse name with * 'x'",
            "the parse pattern names no column",
            "parse",
        ),
        ("requests | extend x = frob(duration)", "unknown function 'frob'", "frob"),
        ("requests | project nmae", "unknown column 'nmae'", "nmae"),
        (
            "requests | where Duration > 1",
            "unknown column 'Duration' (did you mean 'duration'? column names are case-sensitive)",
            "Duration",
        ),
        ("requests | where name == \"abc", "unterminated string literal", '"abc'),
        ("requests | where name == 'ab\nc'", "unterminated string literal", "'ab"),
        ("requests | take 5 extra", "expected '|' or end of query, found 'extra'", "extra"),
        ("requests | take 5 )", "expected '|' or end of query, found ')'", ")"),
        ("requestz | take 1", "unknown table 'requestz'", "requestz"),
        ("requests | where duration > ", "expected an expression, found end of query", None),
        ("requests | where (duration > 1", "expected ')', found end of query", None),
        ("requests | order duration", "expected 'by', found 'duration'", "duration"),
        ("requests | take 5x", "invalid numeric literal '5x'", "5x"),
        ("requests | where name == 'a' # 1", "unexpected character '#'", "#"),
        ("requests | extend x = strlen()", "function 'strlen' expects 1 argument, got 0", "strlen"),
        (
            "requests | extend x = iff(true, 1)",
            "function 'iff' expects 3 arguments, got 2",
            "iff",
        ),
        (
            "requests | where count() > 1",
            "aggregate function 'count' can only be used in summarize",
            "count",
        ),
        (
            "requests | summarize duration",
            "summarize expects an aggregation such as count() or avg(x)",
            "duration",
        ),
        ("requests | summarize avg(nope)", "unknown column 'nope'", "nope"),
        (
            "requests | join kind=sideways (exceptions) on operation_Id",
            "unknown join kind 'sideways'",
            "sideways",
        ),
        ("requests | join kind=inner exceptions on", "expected a column name, found end of query",
         None),
        ("requests | project a = 1, a = 2", "column 'a' is defined more than once", "a = 2"),
        ("requests | where name !foo 'x'", "unknown operator '!foo'", "!foo"),
        ("requests | take -1", "expected a non-negative row count, found '-1'", "-1"),
        ("requests | where timestamp > datetime(yesterday)", "invalid datetime literal 'yesterday'",
         "datetime"),
        ("requests | render timechart | take 1", "'render' must be the last operator", "| take"),
        (r"requests | where name == 'a\q'", "invalid escape sequence '\\q' in string", "\\q"),
        (r"requests | where name == '\u12'", "invalid escape sequence '\\u' in string", "\\u"),
        ("requests | where name matches regex '('", None, "matches"),
        (
            "requests | evaluate autocluster()",
            "plugin 'autocluster' is not supported by the local query engine",
            "autocluster",
        ),
        ("requests | sample 3", "operator 'sample' is not supported by the local query engine",
         "sample"),
        ("union requests, requestz", "unknown table 'requestz'", "requestz"),
        ("requests | summarize countt()", "unknown aggregation function 'countt'", "countt"),
        (
            "requests | summarize n = countt() by name",
            "unknown aggregation function 'countt'",
            "countt",
        ),
        (
            "AppRequests | take 1",
            "unknown table 'AppRequests': that is the workspace name; the classic table is"
            " 'requests'",
            "AppRequests",
        ),
        (
            "requests | where TimeGenerated > ago(1h)",
            "unknown column 'TimeGenerated': that is the workspace name; the classic column is"
            " 'timestamp'",
            "TimeGenerated",
        ),
    ],
)  # fmt: skip
def test_error_message_and_position(query: str, message: str | None, offending: str | None) -> None:
    """The error names the problem and ``position`` is the offending token's offset."""
    error = error_of(query)
    if message is not None:
        assert error.message == message
    expected_position = len(query) if offending is None else query.index(offending)
    assert error.position == expected_position
    assert str(error) == f"{error.message} (at position {expected_position})"


def test_error_position_counts_from_start_of_whole_text() -> None:
    """Positions are offsets into the full text, across ``let`` statements and newlines."""
    query = "let limit = 5;\nrequests\n| where missing_column > limit"
    error = error_of(query)
    assert error.message == "unknown column 'missing_column'"
    assert error.position == query.index("missing_column")


def test_unknown_column_is_reported_even_without_rows() -> None:
    """Names are checked before any row is read, so an empty table still reports them."""
    error = error_of("exceptions | where typo == 'x'")
    assert error.message == "unknown column 'typo'"
    assert error.position == len("exceptions | where ")


def test_column_dropped_by_project_is_unknown_afterwards() -> None:
    """After ``project`` only the projected columns exist."""
    query = "requests | project name | where duration > 1"
    error = error_of(query)
    assert error.message == "unknown column 'duration'"
    assert error.position == query.index("duration")


def test_error_inside_join_subquery_points_into_subquery() -> None:
    """A problem inside a join's subquery is reported at its own position."""
    query = "requests | join kind=inner (exceptions | where bogus == 1) on operation_Id"
    error = error_of(query)
    assert error.message == "unknown column 'bogus'"
    assert error.position == query.index("bogus")


def test_kql_error_is_an_exception_with_position() -> None:
    """``KqlError`` is a plain ``Exception`` carrying ``message`` and ``position``."""
    error = KqlError("expected 'by', found 'x'", 7)
    assert isinstance(error, Exception)
    assert (error.message, error.position) == ("expected 'by', found 'x'", 7)
