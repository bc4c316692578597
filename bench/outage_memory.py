"""Benchmark 5: how much memory a long endpoint outage costs.

A fresh process (:mod:`bench.outage_child`) emits a million records from invocations while the
endpoint refuses connections. Memory must stay bounded: the queue and the retry buffer have
fixed capacities, local storage has a size cap, and everything beyond is counted as dropped.
Growth is the RSS after (and the peak RSS during) the burst minus the RSS before it, after a
warm-up that already went through the first failed sends.
"""

from __future__ import annotations

from .children import EmulatorProcess, app_env, run_child, scratch_storage
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["run"]

#: The default queue's bound (180,000 items, about 125 MB; README, ``queue_size``) plus room for
#: the retry buffer, the storage writer and the allocator. The queue is sized to absorb a burst
#: of 200,000 records; what an outage may cost follows from that bound, not the other way round.
_GROWTH_LIMIT_MIB = 160.0


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure RSS growth while the endpoint is down."""
    result = BenchmarkResult("outage_memory", "Outage memory")
    with scratch_storage() as storage:
        child = run_child(
            ["-m", "bench.outage_child", "--records", str(settings.outage_records)],
            env=app_env(storage),
            timeout_s=600.0,
            fresh_rss=True,
        )
        report = child.result()
    before = report["rss_before_kib"] / 1024.0
    growth_end = report["rss_after_kib"] / 1024.0 - before
    growth_peak = report["peak_rss_kib"] / 1024.0 - before
    result.add("records", "records emitted with the endpoint down", report["records"], "records")
    result.add("emit_s", "time to emit them", report["emit_s"], "s")
    result.add("rss_before_mib", "RSS before the burst", before, "MiB")
    result.add("growth_end_mib", "RSS growth at the end of the burst", growth_end, "MiB")
    result.add(
        "growth_after_gc_mib",
        "RSS growth after gc.collect()",
        report["rss_after_gc_kib"] / 1024.0 - before,
        "MiB",
    )
    result.add("growth_peak_mib", "peak RSS growth during the burst", growth_peak, "MiB")
    result.add("persisted", "items written to local storage", report["persisted"], "items")
    result.add("dropped", "items dropped (counted, by cause)", report["dropped"], "items")
    result.diagnostics["child"] = report
    result.target(
        "outage_memory",
        "outage: at most 160 MiB of RSS growth (peak) after 1,000,000 records (queue bound)",
        growth_peak,
        "<=",
        _GROWTH_LIMIT_MIB,
        "MiB",
    )
    if settings.outage_records < 1_000_000:
        result.notes.append(f"smoke run: {settings.outage_records:,} records instead of 1,000,000")
    if not report["warmed_up"]:
        result.notes.append("the warm-up did not reach local storage within 30 s")
    return result
