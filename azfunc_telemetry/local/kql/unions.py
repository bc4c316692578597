"""The ``union`` operator: several tables stacked into one.

Kusto's default (``kind=outer``) keeps every column of every leg, in order of first appearance,
and leaves a cell empty (null) where a leg lacks the column; ``kind=inner`` keeps only the columns
all legs share. ``withsource=Name`` adds a first column telling which leg each row came from (the
table's name, or ``union_argN`` for a parenthesised query). A ``*`` pattern (``union *``,
``union app*``) expands to the matching tables, and ``isfuzzy=true`` skips legs that name no table
instead of failing, as long as one leg resolves.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import syntax as ast
from .errors import KqlError
from .result import Table

__all__ = ["UnionLeg", "expand_legs", "union_tables"]


@dataclass(frozen=True, slots=True)
class UnionLeg:
    """One resolved input of a union and the name ``withsource`` reports for it."""

    name: str
    table: Table


def expand_legs(
    op: ast.Union,
    known_tables: Sequence[str],
    read_table: Callable[[ast.TableRef], Table],
    run_query: Callable[[ast.Query], Table],
    *,
    first_index: int = 0,
) -> list[UnionLeg]:
    """Resolve the legs of ``op`` in order, expanding wildcards against ``known_tables``.

    ``first_index`` numbers parenthesised legs after a piped input (``union_arg1`` onwards).

    Raises:
        KqlError: For a leg naming no table (unless ``isfuzzy=true``), or when nothing resolves.
    """
    legs: list[UnionLeg] = []
    for index, leg in enumerate(op.legs):
        if isinstance(leg, ast.Query):
            legs.append(UnionLeg(f"union_arg{first_index + index}", run_query(leg)))
            continue
        if "*" in leg.name:
            matches = [name for name in known_tables if fnmatch.fnmatchcase(name, leg.name)]
            if not matches and not op.fuzzy:
                raise KqlError(f"no table matches '{leg.name}'", leg.pos)
            legs.extend(UnionLeg(name, read_table(ast.TableRef(name, leg.pos))) for name in matches)
            continue
        try:
            legs.append(UnionLeg(leg.name, read_table(leg)))
        except KqlError:
            if not op.fuzzy:
                raise
    if not legs:
        raise KqlError("none of the union's tables exist", op.pos)
    return legs


def union_tables(op: ast.Union, legs: Sequence[UnionLeg]) -> Table:
    """Stack ``legs`` as ``op`` says (outer or inner, with or without a source column)."""
    if op.inner:
        shared = set.intersection(*(set(leg.table.columns) for leg in legs))
        columns = [name for name in legs[0].table.columns if name in shared]
    else:
        columns = []
        seen: set[str] = set()
        for leg in legs:
            for name in leg.table.columns:
                if name not in seen:
                    seen.add(name)
                    columns.append(name)
    source_column = op.source_column
    if source_column is not None:
        columns = [source_column, *(name for name in columns if name != source_column)]
    types: dict[str, str] = {}
    for leg in reversed(legs):
        types.update(leg.table.types)
    types = {name: kind for name, kind in types.items() if name in columns}
    if source_column is not None:
        types[source_column] = "string"
    strings = [name for name in columns if types.get(name) == "string"]
    rows = []
    for leg in legs:
        for row in leg.table.rows:
            out = {name: row.get(name) for name in columns}
            for name in strings:  # a string column a leg lacks reads as "", never null
                if out[name] is None:
                    out[name] = ""
            if source_column is not None:
                out[source_column] = leg.name
            rows.append(out)
    return Table(columns, rows, types)
