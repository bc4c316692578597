"""The syntax tree produced by the parser and walked by the evaluator.

Every node records ``pos``, the offset of the token that best identifies it, so semantic errors
found later (an unknown column, a wrong argument count) still point into the original text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .syntax_ops import (
    DataTable,
    Evaluate,
    GetSchema,
    Lookup,
    MakeSeries,
    MvExpand,
    Parse,
    ParsePart,
    Print,
    ProjectKeep,
    ProjectReorder,
    Range,
    RenderHint,
    Serialize,
)

__all__ = [
    "Between",
    "Binary",
    "Call",
    "ColumnRef",
    "Count",
    "DataTable",
    "Distinct",
    "Evaluate",
    "Expr",
    "Extend",
    "GetSchema",
    "InList",
    "Index",
    "Join",
    "JoinCondition",
    "LetStatement",
    "Literal",
    "Lookup",
    "MakeSeries",
    "Member",
    "MvExpand",
    "NamedExpr",
    "Operator",
    "Parse",
    "ParsePart",
    "Print",
    "Project",
    "ProjectAway",
    "ProjectKeep",
    "ProjectRename",
    "ProjectReorder",
    "Query",
    "Range",
    "RenderHint",
    "Script",
    "Serialize",
    "Sort",
    "SortKey",
    "Star",
    "Subquery",
    "Summarize",
    "TableRef",
    "Take",
    "TermList",
    "Top",
    "Unary",
    "Union",
    "Where",
]


# --- scalar expressions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: string, number, bool, datetime, timespan, dynamic or null."""

    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """A bare name: a column of the current row or a ``let``-bound scalar."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Member:
    """``base.key`` property access on a dynamic value such as ``customDimensions``."""

    base: Expr
    key: str
    pos: int


@dataclass(frozen=True, slots=True)
class Index:
    """``base[index]``: a property by string key or an array element by position."""

    base: Expr
    index: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    """A scalar or aggregate function call; ``pos`` is the function name's offset."""

    name: str
    args: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    """Unary ``-`` or ``+``."""

    op: str
    operand: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison, logical or string operator; ``pos`` is the operator's offset."""

    op: str
    left: Expr
    right: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class InList:
    """``left in (...)`` and its variants ``!in``, ``in~`` and ``!in~``."""

    left: Expr
    items: tuple[Expr, ...]
    negated: bool
    case_insensitive: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Between:
    """``left between (low .. high)`` (inclusive) or ``!between``."""

    left: Expr
    low: Expr
    high: Expr
    negated: bool
    pos: int


@dataclass(frozen=True, slots=True)
class TermList:
    """``left has_any (...)`` or ``left has_all (...)``."""

    op: str
    left: Expr
    items: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Subquery:
    """A tabular query used as a value: ``toscalar(...)`` or the list of ``in (...)``."""

    query: Query
    pos: int


@dataclass(frozen=True, slots=True)
class Star:
    """``*`` as an argument, as in ``arg_max(timestamp, *)``: every column."""

    pos: int


Expr = (
    Literal
    | ColumnRef
    | Member
    | Index
    | Call
    | Unary
    | Binary
    | InList
    | Between
    | TermList
    | Subquery
    | Star
)


@dataclass(frozen=True, slots=True)
class NamedExpr:
    """``[name =] expr`` as used by project, extend and summarize; ``name`` None means inferred."""

    name: str | None
    expr: Expr
    pos: int


# --- tabular operators ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    """``where predicate``: keep rows for which the predicate is true."""

    predicate: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Project:
    """``project``: choose, rename and compute the output columns."""

    items: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class ProjectAway:
    """``project-away``: drop the named columns."""

    columns: tuple[ColumnRef, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class ProjectRename:
    """``project-rename new = old, ...``."""

    renames: tuple[tuple[str, ColumnRef], ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Extend:
    """``extend``: add (or replace) computed columns."""

    items: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Summarize:
    """``summarize aggregates [by keys]``."""

    aggregates: tuple[NamedExpr, ...]
    by: tuple[NamedExpr, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ``order by`` key; Kusto sorts descending unless told otherwise."""

    expr: Expr
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Sort:
    """``order by`` / ``sort by``."""

    keys: tuple[SortKey, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Top:
    """``top N by key``: sort then take."""

    count: Expr
    key: SortKey
    pos: int


@dataclass(frozen=True, slots=True)
class Take:
    """``take N`` / ``limit N``."""

    count: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Count:
    """The ``count`` operator: one row, one column ``Count``."""

    pos: int


@dataclass(frozen=True, slots=True)
class Distinct:
    """``distinct col, ...`` or ``distinct *`` (``columns`` empty)."""

    columns: tuple[ColumnRef, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class JoinCondition:
    """Equality of ``$left.left`` and ``$right.right`` (``on col`` sets both to ``col``)."""

    left: ColumnRef
    right: ColumnRef


@dataclass(frozen=True, slots=True)
class Join:
    """``join kind=... (right) on ...``."""

    kind: str
    right: Query
    conditions: tuple[JoinCondition, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Union:
    """``union [kind=outer|inner] [withsource=Col] [isfuzzy=bool] legs``.

    As a query's source it unions only ``legs``; after a pipe the input table is the first leg.
    A :class:`TableRef` leg may hold ``*`` wildcards (``union *``, ``union app*``).
    """

    legs: tuple[TableRef | Query, ...]
    inner: bool
    source_column: str | None
    fuzzy: bool
    pos: int


Operator = (
    Where
    | Project
    | ProjectAway
    | ProjectRename
    | Extend
    | Summarize
    | Sort
    | Top
    | Take
    | Count
    | Distinct
    | Join
    | Union
    | Parse
    | MvExpand
    | MakeSeries
    | Lookup
    | Serialize
    | Evaluate
    | ProjectReorder
    | ProjectKeep
    | GetSchema
)


# --- statements -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableRef:
    """The table (or tabular ``let`` name) a pipeline starts from."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Query:
    """A tabular pipeline: a source followed by ``|``-separated operators."""

    source: TableRef | Query | Union | Print | DataTable | Range
    operators: tuple[Operator, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class LetStatement:
    """``let name = value;`` where value is a scalar expression or a tabular query."""

    name: str
    value: Expr | Query
    pos: int


@dataclass(frozen=True, slots=True)
class Script:
    """A whole query text: ``let`` statements followed by one tabular query."""

    lets: tuple[LetStatement, ...]
    query: Query
    render: RenderHint | None = None
