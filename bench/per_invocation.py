"""Benchmark 2: what ``@instrument`` adds to each invocation, sync and async.

An HTTP-triggered function that returns a prebuilt response is called three ways, interleaved:
bare, wrapped by ``@instrument``, and wrapped in the tracer-and-span-per-invocation pattern of
opencensus-extension-azure-functions (real ``Tracer`` and ``AzureExporter``). Sync functions run
on a ``ThreadPoolExecutor`` thread as the worker runs them; async ones are awaited on an event
loop. Functions are called with keyword arguments, as the worker calls them (it binds each
argument to its parameter by name). Each invocation gets its own context. Invocations are
timed in chunks of 250, with both libraries' queues drained between chunks; the variants
alternate chunk by chunk. The overhead is the median per-call time over all chunks minus the
bare call's.

Each library is timed in processes of its own, against the bare call in the same process, and
the processes alternate (azfunc_telemetry, opencensus, opencensus, azfunc_telemetry, ...): a
function app runs one of them, not both, and timed side by side in one process each library's
numbers carried the other's garbage and cache traffic (``@instrument`` measured about 0.9 µs
more with opencensus's pattern interleaved than without). Every number is the median over the
processes of each process's median. ``python -m bench.per_invocation --library NAME
--connection-string CS [--smoke]`` is one such process; it prints its series as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext

from .children import EmulatorProcess, child_env, run_child, scratch_storage
from .report import BenchmarkResult
from .settings import FULL, SMOKE, Settings
from .timing import Block, Series, chunked, interleave
from .workload import (
    OpenCensusInvocation,
    http_request,
    http_response,
    invocation_contexts,
    opencensus_exporter,
)

__all__ = ["main", "run"]

LIBRARIES = ("azfunc", "opencensus")

_SYNC_LIMIT_US = 10.0
_ASYNC_LIMIT_US = 10.0
_OPENCENSUS_FACTOR = 8.0

_RESPONSE = http_response()


def orders(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The benchmarked sync function: no work of its own."""
    return _RESPONSE


async def orders_async(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The benchmarked async function: no work of its own."""
    return _RESPONSE


def _sync_chunk(
    function: Callable[..., Any], request: func.HttpRequest, contexts: list[FakeContext]
) -> int:
    start = time.perf_counter_ns()
    for context in contexts:
        function(req=request, context=context)
    return time.perf_counter_ns() - start


async def _async_chunk(
    function: Callable[..., Awaitable[Any]], request: func.HttpRequest, contexts: list[FakeContext]
) -> int:
    start = time.perf_counter_ns()
    for context in contexts:
        await function(req=request, context=context)
    return time.perf_counter_ns() - start


def _interleaved(settings: Settings, connection_string: str, library: str) -> dict[str, Series]:
    """Time bare calls and ``library``'s wrapper, sync and async, chunk by chunk."""
    request = http_request()
    contexts = invocation_contexts(settings.invocation_chunk)
    size = settings.invocation_chunk
    pool = ThreadPoolExecutor(thread_name_prefix="bench-worker")
    loop = asyncio.new_event_loop()
    exporter: Any = None
    with scratch_storage() as storage:
        if library == "azfunc":
            # The export thread runs between the timed chunks (drain), as opencensus' does, not
            # during them: this measures the wrapper's own cost.
            azfunc_telemetry.setup(
                connection_string=connection_string,
                storage_path=storage,
                export_interval_s=3600.0,
            )
            wrap_sync: Callable[..., Any] = azfunc_telemetry.instrument
            wrap_async: Callable[..., Any] = azfunc_telemetry.instrument

            def drain() -> None:
                azfunc_telemetry.flush(30.0)

        else:
            exporter = opencensus_exporter(connection_string)
            opencensus = OpenCensusInvocation(exporter)
            wrap_sync, wrap_async = opencensus.wrap_sync, opencensus.wrap_async

            def drain() -> None:
                # Its worker would otherwise still send one chunk's spans while the next
                # chunk is timed.
                exporter._queue.flush(30.0)

        def on_pool(function: Callable[..., Any]) -> Callable[[], Block]:
            def one() -> Block:
                return chunked(
                    lambda: pool.submit(_sync_chunk, function, request, contexts).result(),
                    drain,
                    1,
                    size,
                )

            return one

        def on_loop(function: Callable[..., Awaitable[Any]]) -> Callable[[], Block]:
            def one() -> Block:
                return chunked(
                    lambda: loop.run_until_complete(_async_chunk(function, request, contexts)),
                    drain,
                    1,
                    size,
                )

            return one

        try:
            return interleave(
                {
                    "sync_bare": on_pool(orders),
                    f"sync_{library}": on_pool(wrap_sync(orders)),
                    "async_bare": on_loop(orders_async),
                    f"async_{library}": on_loop(wrap_async(orders_async)),
                },
                repeats=settings.repeats * settings.invocation_chunks,
            )
        finally:
            loop.close()
            pool.shutdown(wait=True)
            if exporter is not None:
                exporter._stop(10.0)
            azfunc_telemetry.shutdown(5.0)


def _per_process(settings: Settings, emulator: EmulatorProcess) -> dict[str, list[float]]:
    """``{library}:{variant}`` -> the median of each process that measured it, in µs."""
    medians: dict[str, list[float]] = {}
    for round_ in range(settings.processes):
        for library in LIBRARIES if round_ % 2 == 0 else LIBRARIES[::-1]:
            args = ["-m", "bench.per_invocation", "--library", library]
            args += ["--connection-string", emulator.connection_string]
            child = run_child(args + (["--smoke"] if settings.smoke else []), env=child_env())
            for variant, values in child.result()["series"].items():
                medians.setdefault(f"{library}:{variant}", []).append(statistics.median(values))
    return medians


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure the per-invocation overhead of both libraries."""
    result = BenchmarkResult("per_invocation", "Per invocation")
    medians = _per_process(settings, emulator)
    overheads: dict[str, float] = {}
    for mode in ("sync", "async"):
        bare = medians[f"azfunc:{mode}_bare"]
        result.add(f"{mode}_bare_us", f"{mode}: bare call", statistics.median(bare), "µs", bare)
        for library, label in (("azfunc", "@instrument"), ("opencensus", "opencensus pattern")):
            measured = medians[f"{library}:{mode}_{library}"]
            own_bare = medians[f"{library}:{mode}_bare"]
            result.add(
                f"{mode}_{library}_us",
                f"{mode}: {label}, per call",
                statistics.median(measured),
                "µs",
                measured,
            )
            per_process = [
                wrapped - plain for wrapped, plain in zip(measured, own_bare, strict=True)
            ]
            overhead = statistics.median(per_process)
            overheads[f"{mode}_{library}"] = overhead
            result.add(
                f"{mode}_{library}_overhead_us",
                f"{mode}: {label}, over a bare call",
                overhead,
                "µs",
                per_process,
            )
        factor = overheads[f"{mode}_opencensus"] / overheads[f"{mode}_azfunc"]
        result.add(
            f"{mode}_opencensus_factor",
            f"{mode}: opencensus overhead / @instrument overhead",
            factor,
            "x",
        )
    result.target(
        "per_invocation_sync",
        "per invocation, sync: at most 10 µs over a bare call",
        overheads["sync_azfunc"],
        "<=",
        _SYNC_LIMIT_US,
        "µs",
    )
    result.target(
        "per_invocation_async",
        "per invocation, async: at most 10 µs over a bare call",
        overheads["async_azfunc"],
        "<=",
        _ASYNC_LIMIT_US,
        "µs",
    )
    result.target(
        "per_invocation_vs_opencensus",
        "per invocation, sync: 8x below the opencensus pattern or better",
        overheads["sync_opencensus"] / overheads["sync_azfunc"],
        ">=",
        _OPENCENSUS_FACTOR,
        "x",
    )
    result.notes.append(
        f"{settings.invocation_chunk} invocations per timed chunk, each with its own context, "
        "called by keyword as the worker calls them; what the library queues (request items, "
        "spans) is delivered to the emulator between chunks; each library in "
        f"{settings.processes} processes of its own, alternating, with the bare call in each; "
        "the median over the processes (the JSON lists each process's value)"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """One process of the comparison: print ``{"series": {variant: [µs per call, ...]}}``."""
    parser = argparse.ArgumentParser(prog="python -m bench.per_invocation")
    parser.add_argument("--library", choices=LIBRARIES, required=True)
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    series = _interleaved(settings, args.connection_string, args.library)
    print(json.dumps({"series": {name: s.values_us for name, s in series.items()}}), flush=True)


if __name__ == "__main__":
    main()
