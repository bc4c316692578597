"""Aggregation functions for ``summarize`` and the column names Kusto gives their results.

An aggregate sees, for each row of a group, the values of its leading *row arguments* (for
example the ``duration`` in ``avg(duration)`` or the predicate in ``countif(success == false)``);
any further arguments are constants such as the ``95`` in ``percentile(duration, 95)``.

Percentiles use the nearest-rank definition (the value at rank ``ceil(p / 100 * n)`` of the sorted
non-null values), which is what Kusto's estimate converges to; ``dcount`` is exact here where
Kusto's is an estimate, so small local data sets give the same answer as the portal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .errors import EvaluationError
from .operations import kusto_type_name
from .values import format_value, group_key, is_number

__all__ = ["AGGREGATE_FUNCTIONS", "AggregateFunction"]

RowArgs = Sequence[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """How to compute one aggregate and name its output column(s).

    Attributes:
        row_args: Number of leading arguments evaluated for every row.
        min_args: Fewest arguments accepted.
        max_args: Most arguments accepted (None = any number).
        compute: ``(per-row argument tuples, constant arguments) -> output values``.
        names: ``(name of the first argument or None, constant arguments) -> column names``.
    """

    row_args: int
    min_args: int
    max_args: int | None
    compute: Callable[[RowArgs, Sequence[Any]], list[Any]]
    names: Callable[[str | None, Sequence[Any]], list[str]]


def _prefixed(prefix: str) -> Callable[[str | None, Sequence[Any]], list[str]]:
    return lambda arg_name, _constants: [f"{prefix}_{arg_name or ''}"]


def _present(rows: RowArgs, *, filtered: bool = False) -> list[Any]:
    """First-argument values that are not null (and whose predicate is true if ``filtered``)."""
    return [row[0] for row in rows if row[0] is not None and (not filtered or row[1] is True)]


def _check_kind(name: str, values: list[Any], allowed: frozenset[str]) -> None:
    """Require all values to share one kind from ``allowed`` (longs and reals count as one)."""
    kinds = {"number" if is_number(value) else kusto_type_name(value) for value in values}
    if len(kinds) > 1:
        raise EvaluationError(f"{name}() cannot combine {' and '.join(sorted(kinds))} values")
    if kinds and not kinds <= allowed:
        raise EvaluationError(f"{name}() cannot aggregate {kinds.pop()} values")


_ADDABLE = frozenset(("number", "timespan"))
_ORDERED = frozenset(("number", "timespan", "datetime"))
_COMPARABLE = _ORDERED | {"string", "bool"}


def _sum(name: str, values: list[Any]) -> Any:
    _check_kind(name, values, _ADDABLE)
    if values and isinstance(values[0], timedelta):
        return sum(values, timedelta(0))
    return sum(values)


def _avg(name: str, values: list[Any]) -> Any:
    if not values:
        return None
    total = _sum(name, values)
    return total / len(values) if isinstance(total, timedelta) else float(total) / len(values)


def _extreme(name: str, values: list[Any], pick: Callable[[list[Any]], Any]) -> Any:
    _check_kind(name, values, _COMPARABLE)
    return pick(values) if values else None


def _variance(values: list[Any]) -> float:
    _check_kind("variance", values, frozenset(("number",)))
    numbers = [float(v) for v in values]
    if len(numbers) < 2:
        return 0.0
    mean = sum(numbers) / len(numbers)
    return sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1)


def _percentile_value(values: list[Any], percent: Any) -> Any:
    if not is_number(percent) or not 0 <= percent <= 100:
        raise EvaluationError(f"percentile must be a number between 0 and 100, got {percent!r}")
    _check_kind("percentile", values, _ORDERED)
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _percentile_name(arg_name: str | None, percent: Any) -> str:
    return f"percentile_{arg_name or ''}_{format_value(percent).replace('.', '_')}"


def _distinct(values: list[Any]) -> list[Any]:
    seen: dict[object, Any] = {}
    for value in values:
        seen.setdefault(group_key(value), value)
    return list(seen.values())


def _limit(values: list[Any], constants: Sequence[Any]) -> list[Any]:
    maximum = constants[0] if constants else None
    if maximum is not None and not (is_number(maximum) and maximum >= 0):
        raise EvaluationError(f"the maximum size must be a non-negative number, got {maximum!r}")
    return values if maximum is None else values[: int(maximum)]


AGGREGATE_FUNCTIONS: dict[str, AggregateFunction] = {
    "count": AggregateFunction(
        0, 0, 0, lambda rows, _c: [len(rows)], lambda _a, _c: ["count_"]
    ),
    "countif": AggregateFunction(
        1, 1, 1,
        lambda rows, _c: [sum(1 for row in rows if row[0] is True)],
        lambda _a, _c: ["countif_"],
    ),
    "dcount": AggregateFunction(
        1, 1, 2, lambda rows, _c: [len(_distinct(_present(rows)))], _prefixed("dcount")
    ),
    "dcountif": AggregateFunction(
        2, 2, 3,
        lambda rows, _c: [len(_distinct(_present(rows, filtered=True)))],
        _prefixed("dcountif"),
    ),
    "sum": AggregateFunction(
        1, 1, 1, lambda rows, _c: [_sum("sum", _present(rows))], _prefixed("sum")
    ),
    "sumif": AggregateFunction(
        2, 2, 2,
        lambda rows, _c: [_sum("sumif", _present(rows, filtered=True))],
        _prefixed("sumif"),
    ),
    "avg": AggregateFunction(
        1, 1, 1, lambda rows, _c: [_avg("avg", _present(rows))], _prefixed("avg")
    ),
    "avgif": AggregateFunction(
        2, 2, 2,
        lambda rows, _c: [_avg("avgif", _present(rows, filtered=True))],
        _prefixed("avgif"),
    ),
    "min": AggregateFunction(
        1, 1, 1, lambda rows, _c: [_extreme("min", _present(rows), min)], _prefixed("min")
    ),
    "max": AggregateFunction(
        1, 1, 1, lambda rows, _c: [_extreme("max", _present(rows), max)], _prefixed("max")
    ),
    "stdev": AggregateFunction(
        1, 1, 1, lambda rows, _c: [math.sqrt(_variance(_present(rows)))], _prefixed("stdev")
    ),
    "variance": AggregateFunction(
        1, 1, 1, lambda rows, _c: [_variance(_present(rows))], _prefixed("variance")
    ),
    "percentile": AggregateFunction(
        1, 2, 2,
        lambda rows, consts: [_percentile_value(_present(rows), consts[0])],
        lambda arg_name, consts: [_percentile_name(arg_name, consts[0])],
    ),
    "percentiles": AggregateFunction(
        1, 2, None,
        lambda rows, consts: [_percentile_value(_present(rows), p) for p in consts],
        lambda arg_name, consts: [_percentile_name(arg_name, p) for p in consts],
    ),
    "make_list": AggregateFunction(
        1, 1, 2, lambda rows, consts: [_limit(_present(rows), consts)], _prefixed("list")
    ),
    "make_set": AggregateFunction(
        1, 1, 2,
        lambda rows, consts: [_limit(_distinct(_present(rows)), consts)],
        _prefixed("set"),
    ),
    "take_any": AggregateFunction(
        1, 1, 1, lambda rows, _c: [next(iter(_present(rows)), None)], _prefixed("any")
    ),
}  # fmt: skip
AGGREGATE_FUNCTIONS["any"] = AGGREGATE_FUNCTIONS["take_any"]
AGGREGATE_FUNCTIONS["makelist"] = AGGREGATE_FUNCTIONS["make_list"]
AGGREGATE_FUNCTIONS["makeset"] = AGGREGATE_FUNCTIONS["make_set"]
# count(predicate), the legacy spelling of countif; count() counts every row.
AGGREGATE_FUNCTIONS["count"] = AggregateFunction(
    1, 0, 1,
    lambda rows, _c: [sum(1 for row in rows if not row or row[0] is True)],
    lambda _a, _c: ["count_"],
)  # fmt: skip
AGGREGATE_FUNCTIONS["percentiles_array"] = AggregateFunction(
    1, 2, None,
    lambda rows, consts: [[_percentile_value(_present(rows), p) for p in consts]],
    lambda arg_name, _c: [f"percentiles_{arg_name or ''}"],
)  # fmt: skip
AGGREGATE_FUNCTIONS["make_list_if"] = AggregateFunction(
    2, 2, 3,
    lambda rows, consts: [_limit(_present(rows, filtered=True), consts)],
    _prefixed("list"),
)  # fmt: skip
AGGREGATE_FUNCTIONS["make_set_if"] = AggregateFunction(
    2, 2, 3,
    lambda rows, consts: [_limit(_distinct(_present(rows, filtered=True)), consts)],
    _prefixed("set"),
)  # fmt: skip
AGGREGATE_FUNCTIONS["maxif"] = AggregateFunction(
    2, 2, 2,
    lambda rows, _c: [_extreme("maxif", _present(rows, filtered=True), max)],
    _prefixed("maxif"),
)  # fmt: skip
AGGREGATE_FUNCTIONS["minif"] = AggregateFunction(
    2, 2, 2,
    lambda rows, _c: [_extreme("minif", _present(rows, filtered=True), min)],
    _prefixed("minif"),
)  # fmt: skip


def _merge_bags(rows: RowArgs) -> list[Any]:
    merged: dict[str, Any] = {}
    for value in _present(rows):
        if isinstance(value, dict):
            for key, item in value.items():
                merged.setdefault(key, item)
    return [merged]


AGGREGATE_FUNCTIONS["make_bag"] = AggregateFunction(
    1, 1, 2, lambda rows, _c: _merge_bags(rows), _prefixed("bag")
)


def _arg_extreme_placeholder(_rows: RowArgs, _constants: Sequence[Any]) -> list[Any]:
    raise EvaluationError("arg_max()/arg_min() are computed by summarize")


for _name in ("arg_max", "arg_min"):
    AGGREGATE_FUNCTIONS[_name] = AggregateFunction(
        1_000_000, 1, None, _arg_extreme_placeholder, lambda arg_name, _c: [arg_name or ""]
    )
