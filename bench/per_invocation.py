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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext

from .children import EmulatorProcess, scratch_storage
from .report import BenchmarkResult
from .settings import Settings
from .timing import Block, Series, chunked, interleave
from .workload import (
    OpenCensusInvocation,
    http_request,
    http_response,
    invocation_contexts,
    opencensus_exporter,
)

__all__ = ["run"]

_SYNC_LIMIT_US = 8.0
_ASYNC_LIMIT_US = 12.0
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


def _drainer(opencensus_exporter: Any) -> Callable[[], None]:
    """Empties both libraries' queues between chunks.

    Otherwise opencensus's worker thread would still be sending the spans of one chunk while
    the next variant's chunk is timed, and charge that variant for it.
    """

    def drain() -> None:
        azfunc_telemetry.flush(30.0)
        opencensus_exporter._queue.flush(30.0)

    return drain


def _interleaved(settings: Settings, connection_string: str, storage: str) -> dict[str, Series]:
    """Time the six variants chunk by chunk against the emulator at ``connection_string``."""
    azfunc_telemetry.setup(connection_string=connection_string, storage_path=storage)
    exporter = opencensus_exporter(connection_string)
    opencensus = OpenCensusInvocation(exporter)
    request = http_request()
    contexts = invocation_contexts(settings.invocation_chunk)
    size = settings.invocation_chunk
    pool = ThreadPoolExecutor(thread_name_prefix="bench-worker")
    loop = asyncio.new_event_loop()
    drain = _drainer(exporter)

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
                "sync_azfunc": on_pool(azfunc_telemetry.instrument(orders)),
                "sync_opencensus": on_pool(opencensus.wrap_sync(orders)),
                "async_bare": on_loop(orders_async),
                "async_azfunc": on_loop(azfunc_telemetry.instrument(orders_async)),
                "async_opencensus": on_loop(opencensus.wrap_async(orders_async)),
            },
            repeats=settings.repeats * settings.invocation_chunks,
        )
    finally:
        loop.close()
        pool.shutdown(wait=True)
        exporter._stop(10.0)
        azfunc_telemetry.shutdown(5.0)


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure the per-invocation overhead of both libraries."""
    result = BenchmarkResult("per_invocation", "Per invocation")
    with scratch_storage() as storage:
        series = _interleaved(settings, emulator.connection_string, storage)
    overheads: dict[str, float] = {}
    for mode in ("sync", "async"):
        bare = series[f"{mode}_bare"]
        result.add(f"{mode}_bare_us", f"{mode}: bare call", bare.median_us, "µs", bare.values_us)
        for library, label in (("azfunc", "@instrument"), ("opencensus", "opencensus pattern")):
            measured = series[f"{mode}_{library}"]
            result.add(
                f"{mode}_{library}_us",
                f"{mode}: {label}, per call",
                measured.median_us,
                "µs",
                measured.values_us,
            )
            overhead = measured.median_us - bare.median_us
            overheads[f"{mode}_{library}"] = overhead
            result.add(
                f"{mode}_{library}_overhead_us",
                f"{mode}: {label}, over a bare call",
                overhead,
                "µs",
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
        "per invocation, sync: at most 8 µs over a bare call",
        overheads["sync_azfunc"],
        "<=",
        _SYNC_LIMIT_US,
        "µs",
    )
    result.target(
        "per_invocation_async",
        "per invocation, async: at most 12 µs over a bare call",
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
        f"{settings.invocation_chunk} invocations per timed chunk, each with its own context; "
        "what both libraries queue (request items, spans) is delivered to the emulator between "
        "chunks"
    )
    return result
