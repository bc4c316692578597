"""SQL conditions that keep a superset of the rows a string predicate keeps.

Kusto's ``contains``, ``has``, ``startswith``, ``endswith`` and ``=~`` fold case the Unicode way,
which SQLite cannot do exactly (its ``LIKE`` folds ASCII only). They can still narrow the rows
read: for an ASCII needle, a value matches only if it matches ``LIKE`` ignoring ASCII case, or
if it holds a non-ASCII character (the Kelvin sign folds to ``k``, ``ß`` to ``ss``...). Such a
condition is added to the SQL as a hint; the ``where`` itself still runs in the interpreter on
the rows that pass, so the answer is exactly the interpreter's.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import syntax as ast
from .sql_scalars import Constant, SqlColumn, sql_literal, translate

__all__ = ["superset_condition"]

_PATTERNS = {
    "contains": "%{}%",
    "contains_cs": "%{}%",
    "has": "%{}%",
    "has_cs": "%{}%",
    "hasprefix": "%{}%",
    "hassuffix": "%{}%",
    "startswith": "{}%",
    "startswith_cs": "{}%",
    "endswith": "%{}",
    "endswith_cs": "%{}",
    "=~": "{}",
}


def _like_text(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term(expr: ast.Binary, columns: Mapping[str, SqlColumn], constant: Constant) -> str | None:
    pattern = _PATTERNS.get(expr.op)
    if pattern is None:
        return None
    haystack = translate(expr.left, columns, constant, predicate=False)
    if haystack is None or haystack.kind not in ("string", "bag-string"):
        return None
    if not isinstance(expr.right, ast.Literal) or not isinstance(expr.right.value, str):
        return None
    needle = expr.right.value
    if not needle or not needle.isascii():
        return None
    like = sql_literal(pattern.format(_like_text(needle)))
    value = f"COALESCE({haystack.sql}, '')"
    non_ascii = f"length({value}) <> length(CAST({value} AS BLOB))"
    return f"({value} LIKE {like} ESCAPE '\\' OR {non_ascii})"


def superset_condition(
    expr: ast.Expr, columns: Mapping[str, SqlColumn], constant: Constant
) -> str | None:
    """A condition true for every row where ``expr`` may be true, or None if none is known."""
    if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
        exact_left = translate(expr.left, columns, constant, predicate=True)
        exact_right = translate(expr.right, columns, constant, predicate=True)
        left = exact_left.sql if exact_left else superset_condition(expr.left, columns, constant)
        right = (
            exact_right.sql if exact_right else superset_condition(expr.right, columns, constant)
        )
        if expr.op == "and":
            known = [part for part in (left, right) if part is not None]
            return f"({' AND '.join(known)})" if known else None
        return f"({left} OR {right})" if left is not None and right is not None else None
    if isinstance(expr, ast.Binary):
        return _term(expr, columns, constant)
    return None
