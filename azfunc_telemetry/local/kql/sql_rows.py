"""The result of a pushed-down SQL statement: what it computes, and decoding its rows.

SQLite hands back the store's encodings (ISO text for datetimes, JSON text for dynamic values,
0/1 for bools, NULL for absent strings); decoding turns them into the interpreter's values, so
the rest of the pipeline cannot tell where a table came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .result import Table
from .values import UTC

__all__ = ["SqlPlan", "decode_rows"]


@dataclass(frozen=True, slots=True)
class SqlPlan:
    """One SQL statement standing in for the first ``consumed`` operators of a pipeline.

    Attributes:
        sql: The statement; its last selected column is the row order, not part of the result.
        columns: The result's column names.
        kinds: How to decode each column (a Kusto type, or ``bag-string`` for a bag property).
        types: The statically known types the interpreter would attach to the result.
        consumed: How many operators the statement computes.
        sort_by_order: The statement leaves the rows unordered; sort them by the order column.
    """

    sql: str
    columns: list[str]
    kinds: list[str]
    types: dict[str, str]
    consumed: int
    sort_by_order: bool = False


def _datetime(text: str) -> datetime:
    if len(text) == 27 and text.endswith("Z"):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    from azfunc_telemetry.ingestion.protocol import parse_envelope_time

    return parse_envelope_time(text)


def _decoder(kind: str) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return lambda value: None if value is None else _datetime(value)
    if kind == "epoch":
        return lambda value: None if value is None else datetime.fromtimestamp(value, UTC)
    if kind == "dynamic":
        return lambda value: None if value is None else json.loads(value)
    if kind == "bool":
        return lambda value: None if value is None else bool(value)
    if kind == "string":
        return lambda value: "" if value is None else value
    return None


def decode_rows(plan: SqlPlan, fetched: Sequence[Sequence[Any]]) -> Table:
    """Turn the statement's rows into the interpreter's table (dropping the order column)."""
    names = plan.columns
    decoders = [(index, _decoder(kind)) for index, kind in enumerate(plan.kinds)]
    active = [(index, decode) for index, decode in decoders if decode is not None]
    if plan.sort_by_order:
        fetched = sorted(fetched, key=lambda record: (record[-1] is None, record[-1] or 0))
    rows = []
    for record in fetched:
        values = list(record[: len(names)])
        for index, decode in active:
            values[index] = decode(values[index])
        rows.append(dict(zip(names, values, strict=True)))
    return Table(list(names), rows, dict(plan.types))
