"""Text rendering of query results, and running queries against the real SQLite telemetry store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from azfunc_telemetry.local.kql import KqlError, QueryResult, format_table, run_query
from azfunc_telemetry.local.store import TelemetryStore


def test_format_table_aligns_columns_and_formats_values() -> None:
    """Datetimes end in ``Z``, timespans use Kusto's clock form, dicts are compact JSON."""
    result = QueryResult(
        ["timestamp", "name", "duration", "wait", "customDimensions", "ok"],
        [
            [
                datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
                "HttpTrigger",
                12.5,
                timedelta(minutes=1),
                {"invocation_id": "inv-1", "n": "3"},
                True,
            ],
            [
                datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=timezone.utc),
                "Q",
                250.0,
                timedelta(milliseconds=100),
                {},
                None,
            ],
        ],
    )
    assert format_table(result).splitlines() == [
        "timestamp                name         duration  wait"
        "              customDimensions                   ok",
        "-----------------------  -----------  --------  ----------------"
        "  ---------------------------------  ----",
        "2024-05-01T12:00:00Z     HttpTrigger      12.5  00:01:00"
        '          {"invocation_id":"inv-1","n":"3"}  true',
        "2024-05-01T12:00:01.25Z  Q                 250  00:00:00.1000000  {}",
    ]


def test_format_table_truncates_long_and_multiline_cells() -> None:
    """Cells longer than ``max_width`` end in an ellipsis; line breaks are shown as ``\\n``."""
    result = QueryResult(["message"], [["x" * 30], ["first\nsecond"]])
    lines = format_table(result, max_width=10).splitlines()
    assert lines == ["message", "----------", "x" * 9 + "…", "first\\nse…"]


def test_format_table_of_empty_result_shows_header_only() -> None:
    """An empty result still shows its column header and rule."""
    assert format_table(QueryResult(["Count"], [])) == "Count\n-----"


def test_format_table_rejects_non_positive_width() -> None:
    """A ``max_width`` below one is a caller error."""
    with pytest.raises(ValueError, match="max_width"):
        format_table(QueryResult(["a"], [["b"]]), max_width=0)


def _message_envelope(
    seconds: int, operation_id: str, message: str, invocation: str
) -> dict[str, object]:
    """A trace envelope as the opencensus log handler sends it."""
    return {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": f"2024-05-01T12:00:{seconds:02d}.000000Z",
        "iKey": "00000000-0000-0000-0000-000000000000",
        "tags": {"ai.operation.id": operation_id, "ai.cloud.role": "orders-app"},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": message,
                "severityLevel": 1,
                "properties": {"invocation_id": invocation},
            },
        },
    }


def test_queries_run_against_the_sqlite_telemetry_store(tmp_path: Path) -> None:
    """The store satisfies ``TableSource``: rows are queried and unknown tables are reported."""
    store = TelemetryStore(tmp_path / "telemetry.db")
    try:
        store.insert(
            [
                _message_envelope(2, "op-1", "second", "inv-1"),
                _message_envelope(1, "op-1", "first", "inv-1"),
                _message_envelope(3, "op-2", "other", "inv-2"),
            ]
        )
        result = run_query(
            'traces | where customDimensions.invocation_id == "inv-1"'
            " | project timestamp, message | order by timestamp asc",
            store,
        )
        assert result.rows == [
            [datetime(2024, 5, 1, 12, 0, 1, tzinfo=timezone.utc), "first"],
            [datetime(2024, 5, 1, 12, 0, 2, tzinfo=timezone.utc), "second"],
        ]
        with pytest.raises(KqlError) as caught:
            run_query("Traces | count", store)
        assert caught.value.message == "unknown table 'Traces' (did you mean 'traces'?)"
        assert caught.value.position == 0
    finally:
        store.close()
