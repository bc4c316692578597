"""The ``join`` operator: equality joins on one or more column pairs.

Output columns are the left table's followed by the right table's; a right column whose name is
already taken gets Kusto's numeric suffix (``operation_Id`` -> ``operation_Id1``). Rows come out in
left-table order, each with its matches in right-table order. Null keys never match. The default
kind, as in Kusto, is ``innerunique`` (only the first left row per key takes part).
"""

from __future__ import annotations

from typing import Any

from . import syntax as ast
from .errors import KqlError
from .expressions import unique_name
from .result import Table
from .values import group_key

__all__ = ["join_tables", "lookup_tables"]

_LEFT_ONLY = frozenset(("leftsemi", "leftanti"))
_RIGHT_ONLY = frozenset(("rightsemi", "rightanti"))


def _key(row: dict[str, Any], columns: list[str]) -> tuple[object, ...] | None:
    values = [row[name] for name in columns]
    if any(value is None for value in values):
        return None
    return tuple(group_key(value) for value in values)


def _missing_row(table: Table) -> dict[str, Any]:
    """The cells an outer join gives a side without a match: "" for strings, else null."""
    return {name: "" if table.types.get(name) == "string" else None for name in table.columns}


def join_tables(op: ast.Join, left: Table, right: Table) -> Table:
    """Join ``left`` and ``right`` as ``op`` describes.

    Raises:
        KqlError: When a join column is missing from its side.
    """
    for condition in op.conditions:
        for column, table, side in (
            (condition.left, left, "left"),
            (condition.right, right, "right"),
        ):
            if column.name not in table.columns:
                raise KqlError(
                    f"unknown column '{column.name}' in the {side} side of the join", column.pos
                )
    left_keys = [condition.left.name for condition in op.conditions]
    right_keys = [condition.right.name for condition in op.conditions]

    index: dict[tuple[object, ...], list[int]] = {}
    for position, row in enumerate(right.rows):
        key = _key(row, right_keys)
        if key is not None:
            index.setdefault(key, []).append(position)

    kind = op.kind
    if kind in _RIGHT_ONLY:
        left_seen = {_key(row, left_keys) for row in left.rows} - {None}
        wanted = kind == "rightsemi"
        rows = [row for row in right.rows if (_key(row, right_keys) in left_seen) == wanted]
        return Table(list(right.columns), [dict(row) for row in rows], dict(right.types))
    if kind in _LEFT_ONLY:
        wanted = kind == "leftsemi"
        rows = [row for row in left.rows if (_key(row, left_keys) in index) == wanted]
        return Table(list(left.columns), [dict(row) for row in rows], dict(left.types))

    columns = list(left.columns)
    right_names: dict[str, str] = {}
    for name in right.columns:
        right_names[name] = unique_name(name, columns)
        columns.append(right_names[name])

    left_missing = _missing_row(left)
    right_missing = _missing_row(right)

    def combine(
        left_row: dict[str, Any] | None, right_row: dict[str, Any] | None
    ) -> dict[str, Any]:
        left_values = left_missing if left_row is None else left_row
        right_values = right_missing if right_row is None else right_row
        out = {name: left_values[name] for name in left.columns}
        for name, renamed in right_names.items():
            out[renamed] = right_values[name]
        return out

    joined: list[dict[str, Any]] = []
    matched_right: set[int] = set()
    seen_left_keys: set[tuple[object, ...]] = set()
    for left_row in left.rows:
        key = _key(left_row, left_keys)
        if kind == "innerunique" and key is not None:
            if key in seen_left_keys:
                continue
            seen_left_keys.add(key)
        matches = index.get(key, []) if key is not None else []
        for position in matches:
            matched_right.add(position)
            joined.append(combine(left_row, right.rows[position]))
        if not matches and kind in ("leftouter", "fullouter"):
            joined.append(combine(left_row, None))
    if kind in ("rightouter", "fullouter"):
        joined.extend(
            combine(None, row)
            for position, row in enumerate(right.rows)
            if position not in matched_right
        )
    types = dict(left.types)
    types.update({right_names[name]: kind for name, kind in right.types.items()})
    return Table(columns, joined, types)


def lookup_tables(op: ast.Lookup, left: Table, right: Table) -> Table:
    """``lookup``: each left row extended with its matching right row's columns.

    It is a ``leftouter`` (or ``inner``) join whose right key columns are not repeated, as
    the key values are already on the left.
    """
    renamed_keys: list[str] = []
    conditions = []
    rename: dict[str, str] = {}
    for index, condition in enumerate(op.conditions):
        hidden = f"\0lookup_key_{index}"
        rename.setdefault(condition.right.name, hidden)
        renamed_keys.append(rename[condition.right.name])
        conditions.append(
            ast.JoinCondition(
                condition.left, ast.ColumnRef(rename[condition.right.name], condition.right.pos)
            )
        )
    for condition in op.conditions:
        if condition.right.name not in right.columns:
            raise KqlError(
                f"unknown column '{condition.right.name}' in the right side of the lookup",
                condition.right.pos,
            )
    hidden_right = Table(
        [rename.get(name, name) for name in right.columns],
        [{rename.get(name, name): value for name, value in row.items()} for row in right.rows],
        {rename.get(name, name): kind for name, kind in right.types.items()},
    )
    joined = join_tables(ast.Join(op.kind, op.right, tuple(conditions), op.pos), left, hidden_right)
    columns = [name for name in joined.columns if name not in renamed_keys]
    rows = [{name: row[name] for name in columns} for row in joined.rows]
    types = {name: kind for name, kind in joined.types.items() if name in columns}
    return Table(columns, rows, types)
