"""Runs a parsed script against a :class:`~.result.TableSource`.

``let`` statements are evaluated first, in order: a scalar ``let`` becomes a value visible to every
later expression, and a tabular one (``let failed = requests | where success == false;`` or a
plain alias ``let r = requests;``) becomes a table that later pipelines and join subqueries can
start from. The query's pipeline then runs operator by operator.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import reshaping, sources, tabular
from . import syntax as ast
from .errors import KqlError
from .expressions import ExpressionEvaluator
from .joins import join_tables, lookup_tables
from .parser import parse
from .pruning import referenced_names
from .result import QueryResult, RenderHint, Table, TableSource
from .sql_plan import plan_query
from .sql_rows import decode_rows
from .unions import UnionLeg, expand_legs, union_tables
from .values import UTC
from .workspace_names import CLASSIC_TABLES

__all__ = ["run_query"]

_OperatorImpl = Callable[[Any, Table, ExpressionEvaluator], Table]
_OPERATORS: dict[type, _OperatorImpl] = {
    ast.Parse: reshaping.parse,
    ast.MvExpand: reshaping.mv_expand,
    ast.Evaluate: reshaping.bag_unpack,
    ast.ProjectReorder: reshaping.project_reorder,
    ast.ProjectKeep: reshaping.project_keep,
    ast.GetSchema: reshaping.get_schema,
    ast.Serialize: reshaping.serialize,
    ast.MakeSeries: sources.make_series,
    ast.Where: tabular.where,
    ast.Project: tabular.project,
    ast.ProjectAway: tabular.project_away,
    ast.ProjectRename: tabular.project_rename,
    ast.Extend: tabular.extend,
    ast.Summarize: tabular.summarize,
    ast.Sort: tabular.sort,
    ast.Top: tabular.top,
    ast.Take: tabular.take,
    ast.Count: tabular.count,
    ast.Distinct: tabular.distinct,
}


def _as_utc(value: Any) -> Any:
    """Treat naive datetimes as UTC so they compare with the aware ones literals produce."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class _Evaluator:
    """Holds one query run's ``let`` bindings and reads source tables on demand."""

    def __init__(self, source: TableSource, now: datetime) -> None:
        self.source = source
        self.scalars: dict[str, Any] = {}
        self.tables: dict[str, Table] = {}
        self.exprs = ExpressionEvaluator(now, self.scalars)
        self.exprs.tables = self.tables
        self.exprs.run_subquery = self.query

    def run(self, script: ast.Script) -> Table:
        for statement in script.lets:
            value = statement.value
            if isinstance(value, ast.Query):
                self.tables[statement.name] = self.query(value)
            elif isinstance(value, ast.ColumnRef) and self._is_table(value.name):
                self.tables[statement.name] = self.table(ast.TableRef(value.name, value.pos))
            else:
                self.exprs.check(value, ())
                self.scalars[statement.name] = self.exprs.evaluate(value, {})
        return self.query(script.query)

    def _is_table(self, name: str) -> bool:
        if name in self.tables:
            return True
        try:
            return bool(self.source.columns(name))
        except (LookupError, ValueError):
            return False

    def table(self, ref: ast.TableRef) -> Table:
        if ref.name in self.tables:
            stored = self.tables[ref.name]
            return Table(list(stored.columns), list(stored.rows), dict(stored.types))
        try:
            columns = list(self.source.columns(ref.name))
        except (LookupError, ValueError):
            columns = []
        if not columns:
            raise KqlError(self._unknown_table_message(ref.name), ref.pos)
        types = self._column_types(ref.name)
        strings = [name for name in columns if types.get(name) == "string"]
        rows = []
        for raw in self.source.rows(ref.name):
            row = {name: _as_utc(raw.get(name)) for name in columns}
            for name in strings:  # Kusto strings are never null
                if row[name] is None:
                    row[name] = ""
            rows.append(row)
        return Table(columns, rows, types)

    def _column_types(self, table: str) -> dict[str, str]:
        column_types = getattr(self.source, "column_types", None)
        if column_types is None:
            return {}
        try:
            return dict(column_types(table))
        except (LookupError, ValueError):
            return {}

    def known_tables(self) -> list[str]:
        """The source's tables (when it lists them) followed by the query's tabular lets."""
        return [str(table) for table in getattr(self.source, "TABLES", ())] + list(self.tables)

    def _unknown_table_message(self, name: str) -> str:
        message = f"unknown table '{name}'"
        if name in CLASSIC_TABLES:
            classic = CLASSIC_TABLES[name]
            return f"{message}: that is the workspace name; the classic table is '{classic}'"
        known = self.known_tables()
        close = [table for table in known if table.lower() == name.lower()]
        if close:
            message += f" (did you mean '{close[0]}'?)"
        elif known:
            message += f"; known tables: {', '.join(known)}"
        return message

    def union(self, op: ast.Union, piped: UnionLeg | None) -> Table:
        legs = expand_legs(
            op, self.known_tables(), self.table, self.query, first_index=0 if piped is None else 1
        )
        return union_tables(op, legs if piped is None else [piped, *legs])

    def pushed_down(self, query: ast.Query) -> tuple[Table, int] | None:
        """Run the leading operators in the source's SQL engine when it has one."""
        source = query.source
        read_sql = getattr(self.source, "read_sql", None)
        if read_sql is None or not isinstance(source, ast.TableRef) or source.name in self.tables:
            return None
        types = self._column_types(source.name)
        if not types:
            return None
        plan = plan_query(
            source.name,
            types,
            query.operators,
            self.exprs,
            lambda name: None if name in self.tables else self._column_types(name),
            getattr(self.source, "table_sql", None) or (lambda name: f'"{name}"'),
        )
        return decode_rows(plan, read_sql(plan.sql)), plan.consumed

    def _leg_columns(self, name: str) -> list[str] | None:
        if name in self.tables:
            return list(self.tables[name].columns)
        types = self._column_types(name)
        return list(types) if types else None

    def filtered_union(self, query: ast.Query) -> tuple[Table, int] | None:
        """``union A, B | where p`` run as ``union (A | where p), (B | where p)``.

        Filtering each table first lets the store's SQL do it (the portal's invocation query
        is ``union traces | union exceptions | where operation_Id == ...``). Only done when
        every table has every column the filters name, so the answer cannot change.
        """
        source, operators = query.source, query.operators
        if getattr(self.source, "read_sql", None) is None:
            return None  # only worth it when each filtered table comes from SQL
        legs: list[tuple[str, ast.TableRef, bool]] = []
        unions: list[ast.Union] = []
        if isinstance(source, ast.Union):
            unions.append(source)
        elif isinstance(source, ast.TableRef):
            legs.append((source.name, source, False))
        else:
            return None
        first = 0
        while first < len(operators) and isinstance(operators[first], ast.Union):
            unions.append(operators[first])  # type: ignore[arg-type]
            first += 1
        if not unions or (
            len(unions) > 1 and any(u.source_column is not None or u.inner for u in unions)
        ):
            return None  # chained unions flatten only without withsource and kind=inner
        count = 0
        while first + count < len(operators) and isinstance(operators[first + count], ast.Where):
            count += 1
        if count == 0:
            return None
        for union in unions:
            for leg in union.legs:
                if not isinstance(leg, ast.TableRef):
                    return None
                if "*" in leg.name:
                    matches = [n for n in self.known_tables() if fnmatch.fnmatchcase(n, leg.name)]
                    legs.extend((n, ast.TableRef(n, leg.pos), union.fuzzy) for n in matches)
                else:
                    legs.append((leg.name, leg, union.fuzzy))
        wheres = operators[first : first + count]
        mentioned = set(referenced_names(wheres)) - set(self.scalars)
        resolved = []
        for name, ref, fuzzy in legs:
            columns = self._leg_columns(name)
            if columns is None:
                if fuzzy:
                    continue
                return None  # the plain path reports the unknown table
            if not mentioned <= set(columns):
                return None
            resolved.append(UnionLeg(name, self.query(ast.Query(ref, wheres, ref.pos))))
        if not resolved:
            return None
        return union_tables(unions[0], resolved), first + count

    def query(self, query: ast.Query) -> Table:
        source = query.source
        start = 0
        pushed = self.filtered_union(query) or self.pushed_down(query)
        if pushed is not None:
            table, start = pushed
        elif isinstance(source, ast.Query):
            table = self.query(source)
        elif isinstance(source, ast.Union):
            table = self.union(source, None)
        elif isinstance(source, ast.Print):
            table = sources.print_row(source, self.exprs)
        elif isinstance(source, ast.DataTable):
            table = sources.datatable(source, self.exprs)
        elif isinstance(source, ast.Range):
            table = sources.range_rows(source, self.exprs)
        else:
            table = self.table(source)
        for index, operator in enumerate(query.operators):
            if index < start:
                continue
            if isinstance(operator, ast.Join):
                table = join_tables(operator, table, self.query(operator.right))
            elif isinstance(operator, ast.Lookup):
                table = lookup_tables(operator, table, self.query(operator.right))
            elif isinstance(operator, ast.Union):
                plain = isinstance(source, ast.TableRef) and index == 0
                name = source.name if isinstance(source, ast.TableRef) and plain else "union_arg0"
                table = self.union(operator, UnionLeg(name, table))
            else:
                table = _OPERATORS[type(operator)](operator, table, self.exprs)
        return table


def run_query(text: str, source: TableSource, *, now: datetime | None = None) -> QueryResult:
    """Run a Kusto query against local tables.

    Args:
        text: The query, e.g. ``requests | summarize count() by name``.
        source: Where tables are read from (the local telemetry store or any
            :class:`~.result.TableSource`).
        now: The instant ``now()`` and ``ago()`` refer to; defaults to the current UTC time. A
            naive datetime is taken to be UTC.

    Returns:
        The result table.

    Raises:
        KqlError: For a syntax error, an unknown table/column/function, an operator outside the
            supported subset, or a type error; ``position`` points into ``text``.
    """
    script = parse(text)
    instant = datetime.now(UTC) if now is None else _as_utc(now)
    result = _Evaluator(source, instant).run(script).to_result()
    if script.render is not None:
        result.render = RenderHint(script.render.visualization, dict(script.render.properties))
    return result
