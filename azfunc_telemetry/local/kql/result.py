"""What a query reads from (:class:`TableSource`) and what it returns (:class:`QueryResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["QueryResult", "Table", "TableSource"]


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


@dataclass
class QueryResult:
    """The table a query produced, shaped like the REST API's ``PrimaryResult``.

    Attributes:
        columns: Column names in order.
        rows: One list of cell values per row, aligned with ``columns``.
    """

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` dicts, convenient for assertions and JSON output."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Table:
    """An intermediate table flowing between operators; rows are dicts keyed by column."""

    columns: list[str]
    rows: list[dict[str, Any]]

    def to_result(self) -> QueryResult:
        """Freeze into the public list-of-lists shape."""
        return QueryResult(
            list(self.columns), [[row.get(name) for name in self.columns] for row in self.rows]
        )
