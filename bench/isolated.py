"""Run one in-process benchmark in a fresh interpreter and print its result as JSON.

The per-record and per-invocation comparisons time a few microseconds each, and a process that
has already run another benchmark is not a fair place for that: its heap is larger (every
garbage collection takes longer) and threads that benchmark started may still wake up. Each of
them therefore runs in a process of its own, its variants still side by side inside it:
``python -m bench.isolated NAME [--smoke] --connection-string CS --port N``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .children import EmulatorProcess
from .report import BenchmarkResult, Measurement, Target
from .settings import FULL, SMOKE

__all__ = ["main", "result_from_json"]


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
