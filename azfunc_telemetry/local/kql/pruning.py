"""Which source columns the rest of a pipeline can read, so the others are never decoded.

Decoding ``customDimensions`` JSON and parsing timestamps dominate the cost of reading rows; a
query that ends in ``summarize count() by name`` needs neither. The analysis walks the operators
in order, collecting every name they mention, and stops at the first operator that replaces the
column set (``project``, ``summarize``, ``count``...). Collecting too much is harmless; an
operator it does not understand means "all columns".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from . import syntax as ast

__all__ = ["referenced_names", "required_columns"]

# Operators after which no input column survives except those they name.
_REPLACING = (ast.Project, ast.Summarize, ast.Count)


def referenced_names(node: object) -> Iterator[str]:
    """Every column-like name mentioned anywhere inside ``node`` (a syntax tree or tuple)."""
    if isinstance(node, ast.ColumnRef):
        yield node.name
        return
    if isinstance(node, (tuple, list)):
        for item in node:
            yield from referenced_names(item)
        return
    slots = getattr(type(node), "__slots__", ())
    for slot in slots:
        value = getattr(node, slot)
        if isinstance(value, ast.Query):
            continue  # a subquery reads its own tables
        if hasattr(type(value), "__slots__") or isinstance(value, (tuple, list)):
            yield from referenced_names(value)


def required_columns(operators: Sequence[object], columns: Sequence[str]) -> list[str]:
    """The subset of ``columns`` (in their order) that ``operators`` may read or output.

    Names differing only in case are kept too, so an "unknown column" error can still suggest
    the right spelling.
    """
    names: set[str] = set()
    for operator in operators:
        if isinstance(operator, ast.Distinct) and not operator.columns:
            return list(columns)
        if not isinstance(operator, _KNOWN) or _mentions_star(operator):
            return list(columns)
        mentioned = set(referenced_names(operator))
        if any("*" in name for name in mentioned):  # a column pattern such as `project-away x*`
            return list(columns)
        names.update(mentioned)
        if isinstance(operator, ast.Join):
            names.update(condition.left.name for condition in operator.conditions)
        if isinstance(operator, _REPLACING) or (
            isinstance(operator, ast.Distinct) and operator.columns
        ):
            lowered = {name.lower() for name in names}
            return [column for column in columns if column.lower() in lowered]
    return list(columns)


_KNOWN = (
    ast.Where,
    ast.Project,
    ast.ProjectAway,
    ast.ProjectRename,
    ast.Extend,
    ast.Summarize,
    ast.Sort,
    ast.Top,
    ast.Take,
    ast.Count,
    ast.Distinct,
    ast.Join,
    ast.Union,
)


def _mentions_star(node: object) -> bool:
    """Whether ``*`` (every column, as in ``arg_max(timestamp, *)``) appears in ``node``."""
    if isinstance(node, ast.Star):
        return True
    if isinstance(node, (tuple, list)):
        return any(_mentions_star(item) for item in node)
    if isinstance(node, ast.Query):
        return False
    return any(_mentions_star(getattr(node, slot)) for slot in getattr(type(node), "__slots__", ()))
