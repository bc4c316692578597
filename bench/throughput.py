"""Benchmark 4: records per second delivered to the loopback emulator, nothing lost, one CPU.

A child process pinned to one CPU logs from invocations for 30 s, holding back whenever its
queue is half full, then flushes (:mod:`bench.throughput_child`). The emulator runs in its own
process, on the other CPU, so the measured process does only the app's and the library's work.
The rate counts log records from the start until the flush confirmed delivery; the request
items of the invocations are delivered too, on top.
"""

from __future__ import annotations

import math

from .children import EmulatorProcess, app_env, run_child, scratch_storage
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["run"]

_RATE_LIMIT = 20_000.0


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure sustained delivery throughput and its CPU cost."""
    result = BenchmarkResult("throughput", "Sustained throughput")
    with scratch_storage() as storage:
        received_before = emulator.counts()["items"]
        child = run_child(
            ["-m", "bench.throughput_child", "--seconds", str(settings.throughput_s)],
            env=app_env(storage, emulator.connection_string),
            timeout_s=settings.throughput_s + 120.0,
        )
        report = child.result()
        received = emulator.counts()["items"] - received_before

    wall = float(report["wall_s"])
    records = int(report["records"])
    sent = int(report["sent"])
    lost = int(report["dropped"]) + int(report["pending"]) + int(report["queued"])
    if not report["flushed"]:
        lost = max(lost, 1)
    rate = records / wall if wall > 0 else math.nan
    result.add("records", "log records emitted", records, "records")
    result.add("wall_s", "emit time + final flush", wall, "s")
    result.add("records_per_s", "log records delivered per second", rate, "records/s")
    result.add(
        "items_per_s", "all items delivered per second (records + requests)", sent / wall, "items/s"
    )
    result.add(
        "items_received",
        "items the emulator received (one more warm-up invocation)",
        received,
        "items",
    )
    result.add("lost", "items dropped or still pending after the flush", lost, "items")
    result.add("cpu_cores", "CPU used by the app process (cores)", report["cpu_s"] / wall, "cores")
    result.add(
        "cpu_us_per_record",
        "CPU per log record, logging + export (app process)",
        1e6 * report["cpu_s"] / records if records else math.nan,
        "µs",
    )
    result.diagnostics["child"] = report
    result.target(
        "throughput",
        "throughput: at least 20,000 records/s delivered on one CPU",
        rate,
        ">=",
        _RATE_LIMIT,
        "records/s",
    )
    result.target("throughput_lossless", "throughput: nothing lost", lost, "<=", 0.0, "items")
    if report["cpu_pinned"] is None:
        result.notes.append("the child could not be pinned to one CPU on this platform")
    result.notes.append(
        f"{settings.throughput_s:.0f} s of invocations logging 10 records each, the app pausing "
        "while its queue is half full; the emulator process is not pinned and not counted"
    )
    return result
