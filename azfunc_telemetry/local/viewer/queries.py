"""The viewer's KQL box: a query run by the CLI's engine, returned as JSON with a chart hint.

The query goes through :func:`azfunc_telemetry.local.kql.run_query` on a read-only store, exactly
as ``azfunc-telemetry query`` runs it. The engine accepts a final ``render`` operator and
ignores it; the page wants to know which chart it asked for, so :func:`render_hint` reads it from
the query text (skipping strings and comments, so a ``render`` inside a literal is not taken).
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from azfunc_telemetry.local.kql import KqlError, run_query
from azfunc_telemetry.local.store import TelemetryStore

__all__ = ["CHART_KINDS", "MAX_ROWS", "QueryAnswer", "render_hint", "run_viewer_query"]

MAX_ROWS = 5000
"""Rows sent to the page; a longer result is cut and says so."""

CHART_KINDS = ("timechart", "linechart", "areachart", "barchart", "columnchart", "piechart")
"""The ``render`` visualizations the page draws; others show as a table only."""

_RENDER = re.compile(r"render\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:with\s*\(.*\))?\s*$", re.DOTALL)
_MAX_QUERY_CHARS = 100_000


@dataclass(frozen=True)
class QueryAnswer:
    """The outcome of one query, ready for JSON.

    Attributes:
        columns: Column names.
        types: Per column ``datetime``, ``number``, ``bool``, ``string`` or ``dynamic``.
        rows: Cell values (times as ISO-8601 text, timespans as milliseconds).
        total_rows: Rows the query produced (``rows`` holds at most :data:`MAX_ROWS`).
        chart: The ``render`` visualization asked for, or None.
        error: The engine's message when the query failed.
        position: Where in the query text the error is.
    """

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    total_rows: int
    chart: str | None
    error: str | None = None
    position: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The answer as a JSON-ready dict."""
        return {
            "columns": self.columns,
            "types": self.types,
            "rows": self.rows,
            "total_rows": self.total_rows,
            "chart": self.chart,
            "error": self.error,
            "position": self.position,
        }


def _code_only(text: str) -> str:
    """The query with string literals and ``//`` comments blanked out, same length."""
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in "\"'":
            end = index + 1
            while end < len(text) and text[end] != char:
                end += 2 if text[end] == "\\" else 1
            out.append(" " * (min(end + 1, len(text)) - index))
            index = end + 1
        elif text.startswith("//", index):
            end = text.find("\n", index)
            end = len(text) if end == -1 else end
            out.append(" " * (end - index))
            index = end
        else:
            out.append(char)
            index += 1
    return "".join(out)


def render_hint(query: str) -> str | None:
    """The visualization a query's final ``| render`` asks for (lower case), or None."""
    code = _code_only(query)
    pipe = code.rfind("|")
    if pipe == -1:
        return None
    match = _RENDER.match(code[pipe + 1 :].strip())
    return match.group(1).lower() if match else None


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds() * 1000.0
    if isinstance(value, dict | list):
        return (
            {str(k): _cell(v) for k, v in value.items()}
            if isinstance(value, dict)
            else [_cell(v) for v in value]
        )
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _column_type(values: list[Any]) -> str:
    present = [value for value in values if value is not None]
    if not present:
        return "string"
    if all(isinstance(value, datetime) for value in present):
        return "datetime"
    if all(isinstance(value, bool) for value in present):
        return "bool"
    if all(
        isinstance(value, int | float | timedelta) and not isinstance(value, bool)
        for value in present
    ):
        return "number"
    if all(isinstance(value, dict | list) for value in present):
        return "dynamic"
    return "string"


def run_viewer_query(path: str, query: str) -> QueryAnswer:
    """Run ``query`` on the store at ``path`` (read-only) and shape the answer for the page.

    A query error or an unreadable store becomes an answer with ``error`` set, never an exception.
    """
    chart = render_hint(query)
    if len(query) > _MAX_QUERY_CHARS:
        return QueryAnswer([], [], [], 0, chart, error="the query is too long")
    try:
        with TelemetryStore(path, read_only=True) as store:
            result = run_query(query, store)
    except KqlError as error:
        position = getattr(error, "position", None)
        return QueryAnswer([], [], [], 0, chart, error=str(error), position=int(position or 0))
    except sqlite3.Error as error:
        return QueryAnswer([], [], [], 0, chart, error=f"cannot read the store: {error}")
    columns = list(result.columns)
    kept = result.rows[:MAX_ROWS]
    types = [_column_type([row[index] for row in kept]) for index in range(len(columns))]
    rows = [[_cell(value) for value in row] for row in kept]
    return QueryAnswer(columns, types, rows, len(result.rows), chart)
