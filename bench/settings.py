"""How much each benchmark does in a full run and in the fast smoke run CI uses."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["FULL", "SMOKE", "Settings"]


@dataclass(frozen=True)
class Settings:
    """Iteration counts and durations for one run.

    Attributes:
        smoke: a smoke run checks that every benchmark runs; its numbers are not judged.
        processes: fresh processes each in-process comparison runs in, one after another;
            every number is the median over them (see :mod:`bench.isolated`).
        repeats: timed repeats per variant in the in-process comparisons (median reported).
        record_chunk: log calls per timed chunk, below the export batch size (512).
        record_chunks: chunks per repeat; the caller-side comparisons alternate the variants
            chunk by chunk, ``repeats * record_chunks`` rounds in all.
        backlog_records: log calls per repeat with the export thread held back.
        export_records: records per repeat in the export-side cost comparison.
        invocation_chunk: invocations per timed chunk.
        invocation_chunks: chunks per repeat, alternated like ``record_chunks``.
        cold_runs: fresh interpreters per cold-start variant.
        throughput_s: how long the sustained-throughput run emits.
        outage_records: records emitted while the endpoint is down.
        exit_runs: child processes per exit scenario.
        opencensus_hung_exit: also time opencensus's exit against a hung endpoint (over 5 s).
        kql_traces: traces in the KQL benchmark's store.
        kql_requests: requests in the KQL benchmark's store.
        kql_repeats: runs of each KQL query in its process.
    """

    smoke: bool
    processes: int
    repeats: int
    record_chunk: int
    record_chunks: int
    backlog_records: int
    export_records: int
    invocation_chunk: int
    invocation_chunks: int
    cold_runs: int
    throughput_s: float
    outage_records: int
    exit_runs: int
    opencensus_hung_exit: bool
    kql_traces: int
    kql_requests: int
    kql_repeats: int

    @property
    def mode(self) -> str:
        """``smoke`` or ``full``."""
        return "smoke" if self.smoke else "full"


FULL = Settings(
    smoke=False,
    processes=5,
    repeats=9,
    record_chunk=500,
    record_chunks=20,
    backlog_records=10_000,
    export_records=2_048,
    invocation_chunk=250,
    invocation_chunks=20,
    cold_runs=9,
    throughput_s=30.0,
    outage_records=1_000_000,
    exit_runs=5,
    opencensus_hung_exit=True,
    kql_traces=100_000,
    kql_requests=20_000,
    kql_repeats=5,
)

#: The same chunk sizes as a full run (their per-call numbers stay comparable), far fewer of them.
SMOKE = replace(
    FULL,
    smoke=True,
    processes=1,
    repeats=3,
    record_chunks=2,
    backlog_records=2_000,
    export_records=512,
    invocation_chunks=2,
    cold_runs=2,
    throughput_s=5.0,
    outage_records=50_000,
    exit_runs=1,
    opencensus_hung_exit=False,
    kql_traces=2_000,
    kql_requests=400,
    kql_repeats=2,
)
