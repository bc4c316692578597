"""Published Kusto queries run against the demo's real telemetry; the pass rate is reported.

The store is filled by the demo workload (real invocations through the sink), and each query's
answer is compared with one computed independently in :mod:`kql_corpus`. Every query must
succeed; the docs report the count.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kql_corpus import QUERIES, CorpusQuery, Rows

from azfunc_telemetry.local.demo import run_workload
from azfunc_telemetry.local.kql import run_query
from azfunc_telemetry.local.store import TelemetryStore


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TelemetryStore, Rows]]:
    """The demo workload's telemetry, and the raw rows of every table it filled."""
    path = Path(tmp_path_factory.mktemp("corpus")) / "demo.db"
    result = run_workload(path, pool_size=4, rounds=6)
    assert result.delivered
    with TelemetryStore(path) as store:
        data = {table: store.rows(table) for table in store.TABLES if store.count(table)}
        yield store, data


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else value
    if isinstance(value, list):
        return tuple(_normal(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _normal(item)) for key, item in value.items()))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(_normal(cell) for cell in row) for row in rows]


def test_corpus_is_large_and_sourced() -> None:
    """At least 60 queries, each with the address it was published at."""
    assert len(QUERIES) >= 60
    assert all(entry.source.startswith("https://") for entry in QUERIES)


@pytest.mark.parametrize("entry", QUERIES, ids=[f"q{i:02d}" for i in range(len(QUERIES))])
def test_published_query_gives_the_independent_answer(
    demo_store: tuple[TelemetryStore, Rows], entry: CorpusQuery
) -> None:
    """The engine's rows equal the independently computed ones (as a multiset unless ordered)."""
    store, data = demo_store
    result = run_query(entry.query, store)
    got = _rows(result.rows)
    expected = _rows([list(row) for row in entry.expected(data)])
    if entry.ordered:
        assert got == expected
    else:
        assert sorted(map(repr, got)) == sorted(map(repr, expected))
