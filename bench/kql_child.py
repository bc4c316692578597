"""One KQL benchmark query in a process of its own: ``python -m bench.kql_child DB NOW QUERY``.

Prints one JSON line: the first (cold) run's and the best of the repeated runs' wall time, the
process's RSS before the query, and its peak RSS (``ru_maxrss``), which therefore covers the
interpreter, the imports and the query together.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import datetime

from azfunc_telemetry.local.kql import run_query
from azfunc_telemetry.local.store import TelemetryStore

__all__ = ["main"]


def _rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


def main() -> None:
    """Run the query ``--repeats`` times and print the timings and memory as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("now")
    parser.add_argument("query")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now)
    with TelemetryStore(args.database) as store:
        rss_before = _rss_kib()
        times = []
        rows = 0
        for _ in range(max(args.repeats, 1)):
            began = time.perf_counter()
            result = run_query(args.query, store, now=now)
            times.append(time.perf_counter() - began)
            rows = len(result.rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"first_s": times[0], "best_s": min(times), "median_s": sorted(times)[len(times) // 2],
             "rows": rows, "rss_before_kib": rss_before, "peak_rss_kib": peak}
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
