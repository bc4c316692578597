"""The benchmark runner: runs each benchmark, then writes the JSON and markdown reports."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from . import (
    cold_start,
    exit_latency,
    kql_queries,
    outage_memory,
    per_invocation,
    per_record,
    throughput,
)
from .children import EmulatorProcess, child_env, run_child
from .isolated import combine, result_from_json
from .machine import machine_info
from .report import BenchmarkResult, write_reports
from .settings import FULL, SMOKE, Settings
from .workload import disable_statsbeat

__all__ = ["BENCHMARKS", "DEFAULT_OUT", "FRESH_PROCESS", "main"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"

Benchmark = Callable[[Settings, EmulatorProcess], BenchmarkResult]

#: In run order: the in-process comparisons first, while the process is small and quiet.
BENCHMARKS: dict[str, tuple[str, Benchmark]] = {
    "per_record": ("Per record", per_record.run),
    "per_invocation": ("Per invocation", per_invocation.run),
    "cold_start": ("Cold start", cold_start.run),
    "throughput": ("Sustained throughput", throughput.run),
    "outage_memory": ("Outage memory", outage_memory.run),
    "exit_latency": ("Exit latency", exit_latency.run),
    "kql": ("KQL queries", kql_queries.run),
}

#: In-process comparisons run in fresh interpreters (see :mod:`bench.isolated`); the
#: per-invocation one starts its own, one library per process.
FRESH_PROCESS = frozenset({"per_record"})

_TELEMETRY_PREFIXES = ("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark azfunc_telemetry against the standard library and opencensus.",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="run every benchmark briefly (numbers not judged)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"report directory (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks"
    )
    return parser.parse_args(argv)


def _isolate_environment() -> None:
    """Nothing from the calling shell may point telemetry anywhere but the emulator."""
    for name in list(os.environ):
        if name.startswith(_TELEMETRY_PREFIXES) or name == "FUNCTIONS_WORKER_RUNTIME":
            del os.environ[name]
    disable_statsbeat()


def _failed(name: str, title: str, error: BaseException) -> BenchmarkResult:
    result = BenchmarkResult(name, title)
    result.notes.append(f"the benchmark failed: {type(error).__name__}: {error}")
    result.diagnostics["traceback"] = "".join(traceback.format_exception(error))
    result.target("ran", "the benchmark ran to completion", 0.0, ">=", 1.0, "runs")
    return result


def _in_fresh_process(name: str, settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    args = ["-m", "bench.isolated", name, "--connection-string", emulator.connection_string]
    args += ["--port", str(emulator.port)] + (["--smoke"] if settings.smoke else [])
    results = []
    for _ in range(settings.processes):
        child = run_child(args, env=child_env(), timeout_s=1200.0)
        sys.stderr.write(child.stderr)
        results.append(result_from_json(child.result()))
    return combine(results)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; returns 0 when every benchmark ran (met targets or not)."""
    args = _parse(argv)
    settings = SMOKE if args.smoke else FULL
    selected = args.only or list(BENCHMARKS)
    _isolate_environment()
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    results: list[BenchmarkResult] = []
    crashed = False
    with EmulatorProcess() as emulator:
        for name in selected:
            title, benchmark = BENCHMARKS[name]
            print(f"[bench] {name} ({settings.mode}) ...", file=sys.stderr, flush=True)
            began = time.monotonic()
            try:
                if name in FRESH_PROCESS:
                    result = _in_fresh_process(name, settings, emulator)
                else:
                    result = benchmark(settings, emulator)
            except Exception as error:
                crashed = True
                result = _failed(name, title, error)
                print(result.diagnostics["traceback"], file=sys.stderr)
            result.duration_s = round(time.monotonic() - began, 2)
            results.append(result)
            for target in result.targets:
                verdict = "met" if target.passed else "MISSED"
                print(
                    f"[bench]   {target.name}: {target.measured:.4g} {target.unit} "
                    f"({target.comparison} {target.limit:g}) {verdict}",
                    file=sys.stderr,
                    flush=True,
                )
    document = {
        "schema": 1,
        "mode": settings.mode,
        "started_at": started_at,
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "settings": asdict(settings),
    }
    json_path, md_path = write_reports(args.out, document, results)
    print(f"[bench] wrote {json_path} and {md_path}", file=sys.stderr)
    return 1 if crashed else 0
