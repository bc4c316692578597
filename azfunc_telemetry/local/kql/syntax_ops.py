"""Syntax nodes of the less common tabular operators and of the sources that are not tables.

They live apart from :mod:`.syntax` to keep each module small; :mod:`.syntax` re-exports them,
so code refers to all nodes as ``syntax.X``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .syntax import ColumnRef, Expr, JoinCondition, NamedExpr, Query

__all__ = [
    "DataTable",
    "Evaluate",
    "GetSchema",
    "Lookup",
    "MakeSeries",
    "MvExpand",
    "Parse",
    "ParsePart",
    "Print",
    "ProjectKeep",
    "ProjectReorder",
    "Range",
    "RenderHint",
    "Serialize",
]


@dataclass(frozen=True, slots=True)
class ParsePart:
    """One piece of a ``parse`` pattern: a literal (``column`` None), a ``*`` or a column."""

    text: str | None
    column: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class Parse:
    """``parse [kind=simple|regex] expr with pattern``: extend with the captured columns."""

    source: Expr
    regex: bool
    parts: tuple[ParsePart, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class MvExpand:
    """``mv-expand [name =] expr [to typeof(T)], ... [limit N]``: one row per array element."""

    items: tuple[NamedExpr, ...]
    types: tuple[str | None, ...]
    limit: Expr | None
    pos: int


@dataclass(frozen=True, slots=True)
class MakeSeries:
    """``make-series aggs [default=v] on axis [from a] [to b] step s [by keys]``."""

    aggregates: tuple[NamedExpr, ...]
    defaults: tuple[Expr | None, ...]
    axis: Expr
    start: Expr | None
    end: Expr | None
    step: Expr
    by: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Lookup:
    """``lookup [kind=leftouter|inner] (right) on keys``: a join that keeps keys once."""

    kind: str
    right: Query
    conditions: tuple[JoinCondition, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Serialize:
    """``serialize [name = expr, ...]``: fix the row order so ``prev``/``next`` may be used."""

    items: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Evaluate:
    """``evaluate plugin(args)``; only ``bag_unpack`` is evaluated locally."""

    plugin: str
    args: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class ProjectReorder:
    """``project-reorder a, b``: move the named columns first."""

    columns: tuple[ColumnRef, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Print:
    """``print [name =] expr, ...``: a single row of computed values."""

    items: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class DataTable:
    """``datatable (col: type, ...) [v1, v2, ...]``: a literal table."""

    columns: tuple[tuple[str, str], ...]
    values: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Range:
    """``range name from a to b step s``: one row per value."""

    column: str
    start: Expr
    end: Expr
    step: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class RenderHint:
    """``render visualization [with (name = value, ...)]``: how the portal would chart it."""

    visualization: str
    properties: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ProjectKeep:
    """``project-keep a, b*``: keep only the named (or matching) columns, in table order."""

    columns: tuple[ColumnRef, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class GetSchema:
    """``getschema``: one row per input column with its name, position and type."""

    pos: int
