"""Benchmark 4b: the export side alone, records per second on one core, against the previous
version in the same run.

A child pinned to one CPU queues ``records`` records while the endpoint holds its first
request, then the endpoint is released and the child times ``flush()``: only the export thread
works (building envelopes, serialising, compressing, sending), so records / drain time is the
export side's rate on one core (:mod:`bench.throughput_export_child`). The emulator runs in its
own process, kept off the child's CPU.

The same child runs against the previous version of the package too (the git revision in
``BENCH_EXPORT_BASELINE``, by default the last one before the export side was reworked),
extracted with ``git archive`` and put first on ``PYTHONPATH``. The two alternate, run after
run, so machine noise hits both alike; each number is the median of its runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .children import ROOT, EmulatorProcess, app_env, scratch_storage
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["BASELINE_REF", "main", "run"]

#: The previous version compared against: the package before the export-side changes.
BASELINE_REF = os.environ.get("BENCH_EXPORT_BASELINE", "b4f06f8")
_RATE_LIMIT = 50_000.0


@contextmanager
def baseline_package(ref: str) -> Iterator[str | None]:
    """A folder holding ``azfunc_telemetry`` as of ``ref``, or ``None`` without git or ``ref``."""
    folder = tempfile.mkdtemp(prefix="azfunc-bench-baseline-")
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "azfunc_telemetry"],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            yield None
            return
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def keep_off_child_cpu(emulator: EmulatorProcess) -> int | None:
    """Keep every thread of the emulator off the CPU the child pins itself to (the highest).

    Unpinned, the scheduler tends to wake the emulator on the CPU of the process that just
    wrote to it, and the two then take turns on one core instead of overlapping: the wall
    clock would measure the emulator as much as the export side. Returns the emulator's CPU
    count, ``None`` where affinity cannot be set (or there is one CPU).
    """
    try:
        cpus = os.sched_getaffinity(0)
        others = cpus - {max(cpus)}
        if emulator.pid is None or not others:
            return None
        for thread in os.listdir(f"/proc/{emulator.pid}/task"):
            os.sched_setaffinity(int(thread), others)
    except (AttributeError, OSError):
        return None
    return len(others)


def drain_once(
    emulator: EmulatorProcess, records: int, package_folder: str | None
) -> dict[str, Any]:
    """One child: fill with the endpoint holding, release, time the drain; its JSON report."""
    with scratch_storage() as storage:
        env = app_env(storage, emulator.connection_string)
        env["AZFUNC_TELEMETRY_QUEUE_SIZE"] = str(records * 2)
        env["AZFUNC_TELEMETRY_REQUEST_TIMEOUT_S"] = "300"
        env["AZFUNC_TELEMETRY_METRICS_INTERVAL_S"] = "3600"
        if package_folder is not None:
            env["PYTHONPATH"] = package_folder + os.pathsep + env["PYTHONPATH"]
        emulator.command("hang")
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.throughput_export_child", "--records", str(records)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            line = process.stdout.readline().strip()
            if line != "filled":
                raise RuntimeError(f"export-side child did not fill: {line!r}")
            process.stdin.write("go\n")
            process.stdin.flush()
            emulator.command("normal")
            stdout, stderr = process.communicate(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    reports = [json.loads(text) for text in stdout.splitlines() if text.startswith("{")]
    if process.returncode != 0 or not reports:
        raise RuntimeError(f"export-side child failed ({process.returncode}): {stderr[-2000:]}")
    report: dict[str, Any] = reports[-1]
    report["rate"] = report["records"] / report["drain_s"] if report["drain_s"] > 0 else 0.0
    report["cpu_rate"] = report["records"] / report["cpu_s"] if report["cpu_s"] > 0 else 0.0
    return report


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure the export side's rate on one core, this version beside the previous one."""
    result = BenchmarkResult("throughput_export", "Export side on one core")
    records = 10_000 if settings.smoke else 100_000
    rounds = 1 if settings.smoke else 5
    current: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    emulator_cpus = keep_off_child_cpu(emulator)
    with baseline_package(BASELINE_REF) as folder:
        for _ in range(rounds):
            current.append(drain_once(emulator, records, None))
            if folder is not None:
                previous.append(drain_once(emulator, records, folder))
    rates = [report["rate"] for report in current]
    rate = statistics.median(rates)
    result.add(
        "records_per_s",
        "records delivered per second, export side, one core",
        rate,
        "records/s",
        rates,
    )
    cpu_rates = [report["cpu_rate"] for report in current]
    cpu_rate = statistics.median(cpu_rates)
    result.add(
        "records_per_cpu_s",
        "records delivered per CPU-second of the child during the drain, export side",
        cpu_rate,
        "records/CPU-s",
        cpu_rates,
    )
    lost = sum(
        r["dropped"] + r["pending"] + r["queued"] + (0 if r["flushed"] else 1) for r in current
    )
    result.add("lost", "items dropped or still pending after the drains", lost, "items")
    if previous:
        before = [report["rate"] for report in previous]
        result.add(
            "previous_records_per_s",
            f"the same, previous version ({BASELINE_REF}), same run, alternating",
            statistics.median(before),
            "records/s",
            before,
        )
        result.add(
            "speedup", "this version over the previous one", rate / statistics.median(before), "x"
        )
        cpu_before = [report["cpu_rate"] for report in previous]
        result.add(
            "previous_records_per_cpu_s",
            f"the same per CPU-second, previous version ({BASELINE_REF})",
            statistics.median(cpu_before),
            "records/CPU-s",
            cpu_before,
        )
        result.add(
            "cpu_speedup",
            "this version over the previous one, per CPU-second",
            cpu_rate / statistics.median(cpu_before),
            "x",
        )
    else:
        result.notes.append(f"previous version {BASELINE_REF!r} not available: no comparison")
    result.diagnostics["current"] = current
    result.diagnostics["previous"] = previous
    result.target(
        "export_side",
        "export side: at least 50,000 records/s on one core",
        rate,
        ">=",
        _RATE_LIMIT,
        "records/s",
    )
    result.target(
        "export_side_cpu",
        "export side: at least 50,000 records per CPU-second of the exporting process",
        cpu_rate,
        ">=",
        _RATE_LIMIT,
        "records/CPU-s",
    )
    result.target("export_side_lossless", "export side: nothing lost", lost, "<=", 0.0, "items")
    if emulator_cpus is None:
        result.notes.append("the emulator could not be kept off the child's CPU")
    result.notes.append(
        f"{records:,} records (and their invocations' requests) queued with the endpoint "
        f"holding, then drained by the export thread alone; median of {rounds} runs per version, "
        "alternating"
    )
    return result


def main() -> None:
    """Run this benchmark alone and print its numbers (``python -m bench.throughput_export``)."""
    from .settings import FULL, SMOKE
    from .workload import disable_statsbeat

    disable_statsbeat()
    settings = SMOKE if "--smoke" in sys.argv[1:] else FULL
    with EmulatorProcess() as emulator:
        result = run(settings, emulator)
    for key, measurement in result.measurements.items():
        print(f"{key}: {measurement.value:,.2f} {measurement.unit} {measurement.repeats}")
    for target in result.targets:
        print(target.description, "->", "met" if target.passed else "missed")


if __name__ == "__main__":
    main()
