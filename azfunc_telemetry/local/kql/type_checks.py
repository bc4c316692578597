"""Static type checks Kusto performs before reading any row.

Kusto rejects ``where name == 5`` or ``where duration > "slow"`` when the query is compiled
rather than returning an empty table, because a string column never equals a number. The engine
knows the types of columns read from a typed source (and carried through unchanged) and of
literals, which is enough to report the same mistakes at the comparison's position.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import syntax as ast
from .errors import KqlError
from .operations import kusto_type_name

__all__ = ["check_comparisons", "static_type"]

_FAMILIES = {
    "int": "number",
    "long": "number",
    "real": "number",
    "double": "number",
    "decimal": "number",
    "string": "string",
    "guid": "string",
    "bool": "bool",
    "datetime": "datetime",
    "timespan": "timespan",
}
_RESULT_TYPES = {
    "tostring": "string", "strcat": "string", "tolower": "string", "toupper": "string",
    "toint": "int", "tolong": "long", "todouble": "real", "toreal": "real", "strlen": "long",
    "todatetime": "datetime", "ago": "datetime", "now": "datetime", "startofday": "datetime",
    "totimespan": "timespan", "tobool": "bool", "toboolean": "bool",
}  # fmt: skip
_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">=", "=~", "!~"))


def static_type(expr: ast.Expr, types: Mapping[str, str]) -> str | None:
    """The Kusto type of ``expr`` when it is known without reading rows, else None."""
    if isinstance(expr, ast.ColumnRef):
        return types.get(expr.name)
    if isinstance(expr, ast.Literal):
        return None if expr.value is None else kusto_type_name(expr.value)
    if isinstance(expr, ast.Call):
        return _RESULT_TYPES.get(expr.name)
    if isinstance(expr, (ast.Member, ast.Index)):
        return "dynamic"
    return None


def _compatible(op: str, left: str, right: str) -> bool:
    left_family, right_family = _FAMILIES.get(left), _FAMILIES.get(right)
    if left_family is None or right_family is None or left_family == right_family:
        return True  # dynamic (or unknown) compares with anything
    # Application Insights keeps `success` as "True"/"False": equality with a bool is allowed.
    return op in ("==", "!=") and {left_family, right_family} == {"string", "bool"}


def check_comparisons(expr: ast.Expr, types: Mapping[str, str]) -> None:
    """Raise at the first comparison whose sides can never be compared.

    Raises:
        KqlError: Naming both types, at the operator's position.
    """
    if isinstance(expr, ast.Binary):
        if expr.op in _COMPARISONS:
            left, right = static_type(expr.left, types), static_type(expr.right, types)
            if left is not None and right is not None and not _compatible(expr.op, left, right):
                raise KqlError(
                    f"cannot compare values of types {left} and {right}; convert one side "
                    "explicitly, e.g. with tostring(), toint() or todatetime()",
                    expr.pos,
                )
        check_comparisons(expr.left, types)
        check_comparisons(expr.right, types)
    elif isinstance(expr, ast.Call):
        for arg in expr.args:
            check_comparisons(arg, types)
    elif isinstance(expr, ast.Unary):
        check_comparisons(expr.operand, types)
