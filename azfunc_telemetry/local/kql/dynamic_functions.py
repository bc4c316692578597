"""Functions over dynamic values: property bags and arrays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .errors import EvaluationError
from .functions import register, unary_function
from .values import format_value, group_key

__all__: list[str] = []


@unary_function("bag_keys")
def _bag_keys(value: Any) -> Any:
    return list(value) if isinstance(value, dict) else None


@register("pack", "bag_pack", min_args=0, max_args=None)
def _pack(args: Sequence[Any], _now: datetime) -> Any:
    if len(args) % 2:
        raise EvaluationError("bag_pack() expects key/value pairs")
    return {format_value(args[i]): args[i + 1] for i in range(0, len(args), 2)}


@register("pack_array", min_args=1, max_args=None)
def _pack_array(args: Sequence[Any], _now: datetime) -> Any:
    return list(args)


@register("array_concat", min_args=1, max_args=None)
def _array_concat(args: Sequence[Any], _now: datetime) -> Any:
    joined: list[Any] = []
    for arg in args:
        if not isinstance(arg, list):
            return None
        joined.extend(arg)
    return joined


@register("set_has_element", min_args=2)
def _set_has_element(args: Sequence[Any], _now: datetime) -> Any:
    if not isinstance(args[0], list):
        return None
    wanted = group_key(args[1])
    return any(group_key(item) == wanted for item in args[0])


@register("array_index_of", min_args=2)
def _array_index_of(args: Sequence[Any], _now: datetime) -> Any:
    if not isinstance(args[0], list):
        return None
    wanted = group_key(args[1])
    for position, item in enumerate(args[0]):
        if group_key(item) == wanted:
            return position
    return -1


@unary_function("array_sum")
def _array_sum(value: Any) -> Any:
    if not isinstance(value, list):
        return None
    numbers = [item for item in value if isinstance(item, (int, float))]
    return float(sum(numbers))


@register("max_of", min_args=2, max_args=None)
def _max_of(args: Sequence[Any], _now: datetime) -> Any:
    present = [arg for arg in args if arg is not None]
    return max(present) if present else None


@register("min_of", min_args=2, max_args=None)
def _min_of(args: Sequence[Any], _now: datetime) -> Any:
    present = [arg for arg in args if arg is not None]
    return min(present) if present else None
