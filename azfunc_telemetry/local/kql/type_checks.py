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

__all__ = ["check_aggregates", "check_comparisons", "check_predicate", "static_type"]

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


_ARITHMETIC = frozenset(("+", "-", "*", "/", "%"))
_NUMERIC_ONLY_AGGREGATES = frozenset(("sum", "avg", "stdev", "variance", "sumif", "avgif"))


def _arithmetic_error(expr: ast.Binary, types: Mapping[str, str]) -> KqlError | None:
    left, right = static_type(expr.left, types), static_type(expr.right, types)
    families = {_FAMILIES.get(left or ""), _FAMILIES.get(right or "")}
    if left is None or right is None or None in families:
        return None
    if "string" in families or "bool" in families:
        return KqlError(
            f"operator '{expr.op}' cannot be applied to {left} and {right}; convert with"
            " toint()/todouble(), or use strcat() to join strings",
            expr.pos,
        )
    return None


def check_aggregates(expr: ast.Expr, types: Mapping[str, str]) -> None:
    """Raise where a numeric aggregation is applied to a column that can never be a number.

    Raises:
        KqlError: Naming the aggregation and the column's type, at the call.
    """
    if isinstance(expr, ast.Call):
        if expr.name in _NUMERIC_ONLY_AGGREGATES and expr.args:
            kind = static_type(expr.args[0], types)
            if _FAMILIES.get(kind or "") in ("string", "bool", "datetime"):
                raise KqlError(f"{expr.name}() cannot aggregate {kind} values", expr.pos)
        for arg in expr.args:
            check_aggregates(arg, types)
    elif isinstance(expr, ast.Binary):
        check_aggregates(expr.left, types)
        check_aggregates(expr.right, types)


def check_predicate(expr: ast.Expr, types: Mapping[str, str]) -> None:
    """Raise when a ``where`` condition can never be a bool (``where name``)."""
    kind = static_type(expr, types)
    if kind is not None and kind not in ("bool", "dynamic"):
        raise KqlError(f"'where' expects a bool predicate, got {kind}", expr.pos)
    check_comparisons(expr, types)


def check_comparisons(expr: ast.Expr, types: Mapping[str, str]) -> None:
    """Raise at the first comparison (or arithmetic) whose sides can never be combined.

    Raises:
        KqlError: Naming both types, at the operator's position.
    """
    if isinstance(expr, ast.Binary):
        if expr.op in _ARITHMETIC:
            error = _arithmetic_error(expr, types)
            if error is not None:
                raise error
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
