"""Operators that reshape rows: parse, mv-expand, bag_unpack, project-reorder, serialize.

Each takes the checked operator, the input table and the expression evaluator, like those of
:mod:`.tabular`, and names the columns it creates the way Kusto does.
"""

from __future__ import annotations

import re

from . import syntax as ast
from .errors import KqlError
from .expressions import ExpressionEvaluator, infer_name
from .result import Table
from .values import CONVERTERS, format_value

__all__ = [
    "bag_unpack",
    "get_schema",
    "mv_expand",
    "parse",
    "project_keep",
    "project_reorder",
    "serialize",
]


# A typed column captures only text of its type, as Kusto's parse does.
_TYPED_PATTERNS = {
    "long": r"-?\d+", "int": r"-?\d+",
    "real": r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", "double": r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?",
}  # fmt: skip


def _pattern(op: ast.Parse) -> re.Pattern[str]:
    pieces = []
    last = len(op.parts) - 1
    for index, part in enumerate(op.parts):
        if part.text is not None:
            pieces.append(part.text if op.regex else re.escape(part.text))
        elif part.column is None:
            pieces.append(".*?" if index < last else ".*")
        elif part.kind in _TYPED_PATTERNS:
            pieces.append(f"(?P<c{index}>{_TYPED_PATTERNS[part.kind]})")
        else:
            greedy = ".*" if index == last else ".*?"
            pieces.append(f"(?P<c{index}>{greedy})")
    try:
        return re.compile("".join(pieces), re.DOTALL)
    except re.error as error:
        raise KqlError(f"invalid parse pattern: {error}", op.pos) from None


def parse(op: ast.Parse, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Extend with the columns ``op``'s pattern captures; a row that does not match gets
    empty strings (and nulls for typed columns)."""
    exprs.check(op.source, table.columns)
    for part in op.parts:
        if part.column is not None and part.kind not in CONVERTERS:
            raise KqlError(f"unknown type '{part.kind}' for parse column '{part.column}'", op.pos)
    pattern = _pattern(op)
    captured = [(f"c{index}", part) for index, part in enumerate(op.parts) if part.column]
    columns = list(table.columns)
    for _group, part in captured:
        if part.column is not None and part.column not in columns:
            columns.append(part.column)
    rows = []
    for source_row in table.rows:
        row = dict(source_row)
        text = format_value(exprs.evaluate(op.source, row))
        match = pattern.search(text) if op.regex else pattern.fullmatch(text)
        if match is None and not op.regex:
            match = pattern.match(text)
        for group, part in captured:
            assert part.column is not None
            raw = match.group(group) if match is not None else None
            if raw is None:
                row[part.column] = "" if part.kind == "string" else None
            else:
                row[part.column] = CONVERTERS[part.kind](raw)
        rows.append(row)
    types = dict(table.types)
    types.update({part.column: part.kind for _g, part in captured if part.column})
    return Table(columns, rows, types)


def mv_expand(op: ast.MvExpand, table: Table, exprs: ExpressionEvaluator) -> Table:
    """One row per element of the expanded arrays (a bag expands to one-property bags)."""
    names = []
    for item in op.items:
        exprs.check(item.expr, table.columns)
        name = item.name or infer_name(item.expr)
        if name is None:
            raise KqlError("mv-expand needs a column or a name for the expression", item.pos)
        names.append(name)
    limit = None
    if op.limit is not None:
        exprs.check(op.limit, ())
        limit = exprs.evaluate(op.limit, {})
    columns = list(table.columns) + [name for name in names if name not in table.columns]
    rows = []
    for source_row in table.rows:
        arrays = []
        for item in op.items:
            value = exprs.evaluate(item.expr, source_row)
            if isinstance(value, dict):
                value = [{key: inner} for key, inner in value.items()]
            elif not isinstance(value, list):
                value = [value]
            arrays.append(value)
        length = max((len(array) for array in arrays), default=0)
        if isinstance(limit, int):
            length = min(length, limit)
        for position in range(length):
            row = dict(source_row)
            for name, array, target in zip(names, arrays, op.types, strict=True):
                value = array[position] if position < len(array) else None
                if target is not None and target in CONVERTERS:
                    value = None if value is None else CONVERTERS[target](value)
                row[name] = value
            rows.append(row)
    types = {name: kind for name, kind in table.types.items() if name not in names}
    types.update({name: t for name, t in zip(names, op.types, strict=True) if t is not None})
    return Table(columns, rows, types)


def bag_unpack(op: ast.Evaluate, table: Table, exprs: ExpressionEvaluator) -> Table:
    """``evaluate bag_unpack(column [, prefix])``: one column per key, the bag column removed."""
    if not op.args or not isinstance(op.args[0], ast.ColumnRef):
        raise KqlError("bag_unpack expects a dynamic column", op.pos)
    bag_column = op.args[0].name
    exprs.check(op.args[0], table.columns)
    prefix = ""
    if len(op.args) > 1:
        exprs.check(op.args[1], ())
        prefix = format_value(exprs.evaluate(op.args[1], {}))
    kept = [name for name in table.columns if name != bag_column]
    new_columns: list[str] = []
    for row in table.rows:
        bag = row.get(bag_column)
        if isinstance(bag, dict):
            for key in bag:
                name = prefix + str(key)
                if name not in new_columns and name not in kept:
                    new_columns.append(name)
    new_columns.sort()  # Kusto lists the unpacked columns by name
    rows = []
    for source_row in table.rows:
        bag = source_row.get(bag_column)
        row = {name: source_row[name] for name in kept}
        for name in new_columns:
            row[name] = bag.get(name[len(prefix) :]) if isinstance(bag, dict) else None
        rows.append(row)
    types = {name: kind for name, kind in table.types.items() if name in kept}
    return Table(kept + new_columns, rows, types)


def project_reorder(op: ast.ProjectReorder, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Put the named columns first, in the order given; the others follow unchanged."""
    from .tabular import matching_columns

    first = matching_columns(op.columns, table, exprs)
    columns = first + [name for name in table.columns if name not in first]
    return Table(columns, table.rows, dict(table.types))


def project_keep(op: ast.ProjectKeep, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Keep the named (or matching) columns, in their input order."""
    from .tabular import matching_columns

    kept = set(matching_columns(op.columns, table, exprs))
    columns = [name for name in table.columns if name in kept]
    rows = [{name: row[name] for name in columns} for row in table.rows]
    return Table(columns, rows, {n: k for n, k in table.types.items() if n in kept})


_DATA_TYPES = {
    "string": "System.String", "long": "System.Int64", "int": "System.Int32",
    "real": "System.Double", "bool": "System.SByte", "datetime": "System.DateTime",
    "timespan": "System.TimeSpan", "dynamic": "System.Object", "guid": "System.Guid",
}  # fmt: skip


def get_schema(_op: ast.GetSchema, table: Table, _exprs: ExpressionEvaluator) -> Table:
    """One row per column: ``ColumnName``, ``ColumnOrdinal``, ``DataType``, ``ColumnType``.

    A column whose type is not known statically takes the type of its first non-null value.
    """
    from .operations import kusto_type_name

    rows = []
    for ordinal, name in enumerate(table.columns):
        kind = table.types.get(name)
        if kind is None:
            sample = next((row[name] for row in table.rows if row.get(name) is not None), None)
            kind = "string" if sample is None else kusto_type_name(sample)
        rows.append(
            {"ColumnName": name, "ColumnOrdinal": ordinal,
             "DataType": _DATA_TYPES.get(kind, "System.Object"), "ColumnType": kind}
        )  # fmt: skip
    columns = ["ColumnName", "ColumnOrdinal", "DataType", "ColumnType"]
    types = {"ColumnName": "string", "ColumnOrdinal": "long", "DataType": "string"}
    return Table(columns, rows, {**types, "ColumnType": "string"})


def serialize(op: ast.Serialize, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Keep the rows in order and add the given columns (``prev``/``next`` allowed)."""
    if not op.items:
        return Table(list(table.columns), list(table.rows), dict(table.types))
    from .tabular import extend

    return extend(ast.Extend(op.items, op.pos), table, exprs)
