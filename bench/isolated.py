"""Run one in-process benchmark in fresh interpreters and combine what they measured.

The per-record and per-invocation comparisons time a few microseconds each, and a process that
has already run another benchmark is not a fair place for that: its heap is larger (every
garbage collection takes longer) and threads that benchmark started may still wake up. Each of
them therefore runs in processes of its own, its variants side by side inside each:
``python -m bench.isolated NAME [--smoke] --connection-string CS --port N``.

One process is not enough either. The same code measured 7.7 µs per invocation in one process
and 8.5 µs in the next, with the standard library's numbers unchanged: hash randomisation and
address-space layout differ from process to process, and so does how well the hot path fits
the caches. So several processes run in turn and each number is the median of their medians,
the way ``pyperf`` spreads a benchmark over worker processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .children import EmulatorProcess
from .report import BenchmarkResult, Measurement, Target
from .settings import FULL, SMOKE

__all__ = ["combine", "main", "result_from_json"]


def result_from_json(data: dict[str, Any]) -> BenchmarkResult:
    """Rebuild a :class:`BenchmarkResult` from what :func:`main` printed."""
    result = BenchmarkResult(str(data["name"]), str(data["title"]))
    for key, measurement in data["measurements"].items():
        result.measurements[key] = Measurement(**measurement)
    for target in data["targets"]:
        fields = {k: v for k, v in target.items() if k != "passed"}
        result.targets.append(Target(**fields))
    result.notes.extend(data["notes"])
    result.diagnostics.update(data["diagnostics"])
    return result


def combine(results: Sequence[BenchmarkResult]) -> BenchmarkResult:
    """One result from the same benchmark run in several processes.

    Each measurement and each target's measured value is the median over the processes, and
    the measurement's ``repeats`` become the per-process values, so the report shows how far
    the processes were apart. Notes are the first process's.
    """
    first = results[0]
    combined = BenchmarkResult(first.name, first.title)
    for key, measurement in first.measurements.items():
        values = [result.measurements[key].value for result in results]
        combined.add(key, measurement.label, statistics.median(values), measurement.unit, values)
    for index, target in enumerate(first.targets):
        measured = statistics.median(result.targets[index].measured for result in results)
        combined.target(
            target.name,
            target.description,
            measured,
            target.comparison,
            target.limit,
            target.unit,
        )
    combined.notes.extend(first.notes)
    if len(results) > 1:
        combined.notes.append(
            f"each number is the median over {len(results)} fresh processes run in turn; the "
            "JSON lists the value of each process"
        )
    combined.diagnostics["processes"] = [result.diagnostics for result in results]
    return combined


def main(argv: Sequence[str] | None = None) -> int:
    """Run the named benchmark against the emulator the parent started."""
    from .runner import BENCHMARKS  # the runner imports this module

    parser = argparse.ArgumentParser(prog="python -m bench.isolated")
    parser.add_argument("name", choices=list(BENCHMARKS))
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _, benchmark = BENCHMARKS[args.name]
    emulator = EmulatorProcess.attached(args.connection_string, args.port)
    result = benchmark(SMOKE if args.smoke else FULL, emulator)
    print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
