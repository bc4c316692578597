"""What a query reads from (:class:`TableSource`) and what it returns (:class:`QueryResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["QueryResult", "RenderHint", "Table", "TableSource", "TypedTableSource"]


class TableSource(Protocol):
    """Anything that can list a table's columns and rows, such as the local telemetry store.

    The engine depends only on this shape, so it can query the store, a test fixture, or rows
    decoded from an export without importing any of them.
    """

    def rows(self, table: str) -> list[dict[str, Any]]:
        """All rows of ``table`` as ``{column: decoded value}`` dicts."""
        ...

    def columns(self, table: str) -> tuple[str, ...]:
        """The column names of ``table`` in display order; raises ``KeyError`` if unknown."""
        ...


class TypedTableSource(TableSource, Protocol):
    """A source that also knows its columns' Kusto types (``string``, ``long``, ``dynamic``...).

    With types the engine behaves as Kusto does with a schema: string cells are never null
    (an absent value reads as ``""``) and comparing, say, a string column with a number is an
    error at the comparison rather than an empty result.
    """

    def column_types(self, table: str) -> dict[str, str]:
        """Column name to Kusto type for ``table``; raises ``KeyError`` if unknown."""
        ...


@dataclass
class RenderHint:
    """How the query asked to be charted (its ``render`` operator), for viewers that draw it.

    Attributes:
        visualization: ``timechart``, ``barchart``, ``piechart``, ``table``...
        properties: The ``with (...)`` properties as written, such as ``{"title": "Failures"}``.
    """

    visualization: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class QueryResult:
    """The table a query produced, shaped like the REST API's ``PrimaryResult``.

    Attributes:
        columns: Column names in order.
        rows: One list of cell values per row, aligned with ``columns``.
        render: The ``render`` operator's chart hint, or None when the query has none.
    """

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    render: RenderHint | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` dicts, convenient for assertions and JSON output."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Table:
    """An intermediate table flowing between operators; rows are dicts keyed by column.

    ``types`` holds the Kusto type of the columns whose type is known statically (those read
    from a typed source and passed through unchanged), so comparisons Kusto rejects can be
    reported before any row is read.
    """

    columns: list[str]
    rows: list[dict[str, Any]]
    types: dict[str, str] = field(default_factory=dict)

    def to_result(self) -> QueryResult:
        """Freeze into the public list-of-lists shape."""
        return QueryResult(
            list(self.columns), [[row.get(name) for name in self.columns] for row in self.rows]
        )
