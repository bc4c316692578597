"""Benchmark 7: KQL queries on a store of 100,000 traces and 20,000 requests.

Each query runs in a fresh process (started from a small shell, so its peak RSS is its own) a
few times; the target is on the median run's wall time (at most 0.3 s) and on the process's
peak RSS (at most 100 MB, interpreter and imports included). The store's size per row is
reported too, since the sink writes it for as long as the app runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .children import EmulatorProcess, child_env, run_child, scratch_storage
from .kql_data import build_store
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["QUERIES", "run"]

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
_TIME_LIMIT_S = 0.3
_PEAK_LIMIT_MIB = 100.0

#: Benchmark key -> the query.
QUERIES = {
    "bin_5m": "traces | where timestamp > ago(1h) | summarize count() by bin(timestamp, 5m)",
    "by_dimension": "traces | summarize count() by tostring(customDimensions.Category)",
    "join": "traces | join kind=inner (requests | project operation_Id, name) on operation_Id"
    " | summarize count() by name",
    "percentiles": "requests | summarize percentiles(duration, 50, 95, 99) by name",
    "top_10": "traces | top 10 by timestamp",
}


def run(settings: Settings, _emulator: EmulatorProcess) -> BenchmarkResult:
    """Build the store, then time each query in its own process."""
    result = BenchmarkResult("kql", "KQL queries")
    with scratch_storage() as storage:
        database = Path(storage) / "telemetry.db"
        rows = build_store(database, settings.kql_traces, settings.kql_requests, NOW)
        size = database.stat().st_size
        result.add("rows", "rows in the store", rows, "rows")
        result.add("store_mib", "store size", size / 2**20, "MiB")
        result.add("bytes_per_row", "store size per row", size / rows, "B")
        for key, query in QUERIES.items():
            child = run_child(
                ["-m", "bench.kql_child", str(database), NOW.isoformat(), query,
                 "--repeats", str(settings.kql_repeats)],
                env=child_env(), timeout_s=600.0, fresh_rss=True,
            )  # fmt: skip
            report = child.result()
            median = result.add(f"{key}_s", f"{query}: median", report["median_s"], "s")
            result.add(f"{key}_first_s", f"{key}: first run", report["first_s"], "s")
            peak = result.add(
                f"{key}_peak_mib", f"{key}: peak RSS", report["peak_rss_kib"] / 1024, "MiB"
            )
            result.target(
                f"{key}_time", f"{key} in at most 0.3 s", median, "<=", _TIME_LIMIT_S, "s"
            )
            result.target(
                f"{key}_memory", f"{key} in at most 100 MB", peak, "<=", _PEAK_LIMIT_MIB, "MiB"
            )
    result.notes.append(
        f"{settings.kql_traces} traces and {settings.kql_requests} requests over two hours;"
        f" each query {settings.kql_repeats} times in a fresh process, the median reported"
    )
    return result
