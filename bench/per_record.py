"""Benchmark 1: what one ``logger.info(..., extra=...)`` costs inside an invocation.

Caller side, interleaved in one process: the standard library to a no-op handler (the floor),
the same with a context-variable tagging filter, opencensus's ``AzureLogHandler`` with
``custom_dimensions``, and azfunc_telemetry's handler (tag + enqueue). The calls are timed in
chunks of 500, below the export batch (512), with each library's queue drained between chunks,
so the queue is as deep as in a running app. The variants alternate chunk by chunk, and the
result is the median over all chunks, so a burst of noise on the machine hits every variant.
A second comparison holds azfunc_telemetry's export thread back for a 10,000-record backlog, to
show what a deep queue costs the caller.

Export side: building the envelope for one record and serialising it, for both libraries, on
records captured from the same log call.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func

import azfunc_telemetry
from azfunc_telemetry.capture.handler import Destination
from azfunc_telemetry.capture.handler import connect as handler_destination
from azfunc_telemetry.export.appinsights.envelope import EnvelopeBuilder
from azfunc_telemetry.export.appinsights.exporter import serialize_batch
from azfunc_telemetry.model.scrubbing import Scrubber
from azfunc_telemetry.testing import FakeContext

from .children import EmulatorProcess, scratch_storage
from .report import BenchmarkResult
from .settings import Settings
from .timing import Block, Series, chunked, interleave
from .workload import (
    APP_LOGGER,
    EXTRA,
    MESSAGE,
    OPENCENSUS_EXTRA,
    NoOpHandler,
    opencensus_log_handler,
    root_handlers,
)

__all__ = ["run"]

_RECORD_RATIO_LIMIT = 1.25
_AZFUNC_BATCH = 512
_OPENCENSUS_BATCH = 100


@azfunc_telemetry.instrument(name="per_record")
def _logging_chunk(context: func.Context, size: int, extra: dict[str, Any]) -> int:
    """One invocation that logs ``size`` records; returns the nanoseconds the calls took."""
    info = APP_LOGGER.info
    start = time.perf_counter_ns()
    for index in range(size):
        info(MESSAGE, "A-77", index, extra=extra)
    return time.perf_counter_ns() - start


def _telemetry_handler() -> logging.Handler:
    """The handler ``setup()`` put on the root logger, taken off it for the comparisons."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, azfunc_telemetry.TelemetryHandler):
            root.removeHandler(handler)
            return handler
    raise RuntimeError("setup() did not install its logging handler")


class _Drain:
    """Empties both libraries' queues between chunks, counting flushes that fell short."""

    def __init__(self, opencensus: logging.Handler) -> None:
        self._opencensus = opencensus
        self.short = 0

    def __call__(self) -> None:
        if not azfunc_telemetry.flush(30.0):
            self.short += 1
        self._opencensus.flush(30.0)  # type: ignore[call-arg]


def _block(
    handler: logging.Handler, extra: dict[str, Any], size: int, drain: Callable[[], None]
) -> Callable[[], Block]:
    """One timed chunk of ``size`` log calls through ``handler``, ``drain`` run after it."""

    def one() -> Block:
        with root_handlers(handler):
            return chunked(
                lambda: _logging_chunk(FakeContext("per_record"), size, extra),
                drain,
                1,
                size,
            )

    return one


def _caller_side(
    result: BenchmarkResult, settings: Settings, connection_string: str, storage: str
) -> None:
    # What the caller pays: the export thread runs between the timed chunks (each chunk is
    # drained), as opencensus' worker does, not during them; the export side's own cost is
    # measured by the throughput benchmarks.
    azfunc_telemetry.setup(
        connection_string=connection_string, storage_path=storage, export_interval_s=3600.0
    )
    azfunc = _telemetry_handler()
    opencensus = opencensus_log_handler(connection_string)
    drain = _Drain(opencensus)
    tagged = NoOpHandler()
    tagged.addFilter(azfunc_telemetry.InvocationContextFilter())
    size = settings.record_chunk
    try:
        series = interleave(
            {
                "stdlib": _block(NoOpHandler(), EXTRA, size, drain),
                "stdlib_filter": _block(tagged, EXTRA, size, drain),
                "opencensus": _block(opencensus, OPENCENSUS_EXTRA, size, drain),
                "azfunc": _block(azfunc, EXTRA, size, drain),
            },
            repeats=settings.repeats * settings.record_chunks,
        )
    finally:
        opencensus.close()
    base = series["stdlib"].median_us
    _add_series(result, "stdlib_noop_us", "stdlib logger.info, no-op handler", series["stdlib"])
    _add_series(
        result,
        "stdlib_filter_us",
        "stdlib + context-variable tagging filter",
        series["stdlib_filter"],
    )
    _add_series(
        result,
        "opencensus_us",
        "opencensus AzureLogHandler, custom_dimensions",
        series["opencensus"],
    )
    _add_series(result, "azfunc_us", "azfunc_telemetry (tag + enqueue)", series["azfunc"])
    ratio = series["azfunc"].median_us / base
    result.add("azfunc_ratio", "azfunc_telemetry / stdlib no-op", ratio, "x")
    result.add(
        "opencensus_ratio", "opencensus / stdlib no-op", series["opencensus"].median_us / base, "x"
    )
    result.target(
        "per_record_ratio",
        "per record: at most 1.25x the stdlib no-op-handler cost",
        ratio,
        "<=",
        _RECORD_RATIO_LIMIT,
        "x",
    )
    if drain.short:
        result.notes.append(f"{drain.short} flush(es) between chunks did not confirm delivery")


def _backlog(
    result: BenchmarkResult, settings: Settings, connection_string: str, storage: str
) -> None:
    # A batch size and interval the backlog never reaches: the export thread sleeps while the
    # whole block is queued, as it would if it had fallen behind.
    azfunc_telemetry.setup(
        connection_string=connection_string,
        storage_path=storage,
        batch_size=1_000_000,
        queue_size=1_000_000,
        export_interval_s=3600.0,
    )
    azfunc = _telemetry_handler()
    size = settings.backlog_records

    def drain() -> None:
        azfunc_telemetry.flush(60.0)

    series = interleave(
        {
            "stdlib": _block(NoOpHandler(), EXTRA, size, drain),
            "azfunc": _block(azfunc, EXTRA, size, drain),
        },
        repeats=max(3, settings.repeats // 2),
    )
    _add_series(
        result,
        "backlog_stdlib_noop_us",
        f"stdlib no-op, {size:,}-record blocks (reference)",
        series["stdlib"],
    )
    _add_series(
        result,
        "backlog_azfunc_us",
        f"azfunc_telemetry with a {size:,}-record backlog (export thread held back)",
        series["azfunc"],
    )
    result.add(
        "backlog_ratio",
        "azfunc_telemetry with backlog / stdlib no-op",
        series["azfunc"].median_us / series["stdlib"].median_us,
        "x",
    )


def _captured_records(
    handler: Callable[[list[Any]], logging.Handler], extra: dict[str, Any], count: int
) -> list[Any]:
    captured: list[Any] = []
    with root_handlers(handler(captured)):
        _logging_chunk(FakeContext("per_record"), count, extra)
    return captured


class _Capture(logging.Handler):
    def __init__(self, into: list[Any]) -> None:
        super().__init__()
        self._into = into

    def emit(self, record: logging.LogRecord) -> None:
        self._into.append(record)


def _export_side(result: BenchmarkResult, settings: Settings, connection_string: str) -> None:
    count = settings.export_records
    # Exactly what azfunc_telemetry's handler queues: LogItem(record, invocation).
    items: list[Any] = []
    previous = handler_destination(Destination(items.append))
    try:
        with root_handlers(azfunc_telemetry.TelemetryHandler()):
            _logging_chunk(FakeContext("per_record"), count, EXTRA)
    finally:
        handler_destination(previous)
    records = _captured_records(_Capture, OPENCENSUS_EXTRA, count)
    builder = EnvelopeBuilder(
        "00000000-0000-0000-0000-000000000000",
        cloud_role="orders-app",
        cloud_role_instance="instance-0",
        scrubber=Scrubber(),
    )
    opencensus: Any = opencensus_log_handler(connection_string)
    envelopes = [builder.build(item) for item in items]
    oc_envelopes = [opencensus.log_record_to_envelope(record) for record in records]

    def azfunc_bodies() -> list[bytes]:
        """What the exporter posts: the envelopes in batches, each one request body."""
        return [serialize_batch(batch) for batch in _batches(envelopes, _AZFUNC_BATCH)]

    def opencensus_bodies() -> list[str]:
        """opencensus's request bodies: its 100-item batches through ``json.dumps``."""
        return [
            json.dumps(batch, default=str) for batch in _batches(oc_envelopes, _OPENCENSUS_BATCH)
        ]

    bodies = azfunc_bodies()
    # The scrubber alone: the workload's messages (no secret: one hint search each), and the
    # same number of messages that hold secrets (every matching rule runs).
    scrubber = Scrubber()
    plain_messages = [item.message for item in items]
    secret_messages = [
        f"{text} password=hunter2 https://u:pw@db.example.com" for text in plain_messages
    ]

    def timed(work: Callable[[], object]) -> Callable[[], Block]:
        def one() -> Block:
            start = time.perf_counter_ns()
            work()
            return Block(time.perf_counter_ns() - start, count)

        return one

    try:
        series = interleave(
            {
                "azfunc_build": timed(lambda: [builder.build(item) for item in items]),
                "azfunc_serialise": timed(azfunc_bodies),
                "azfunc_gzip": timed(lambda: [gzip.compress(b, compresslevel=1) for b in bodies]),
                "azfunc_scrub": timed(lambda: [scrubber.scrub(m) for m in plain_messages]),
                "azfunc_scrub_secret": timed(lambda: [scrubber.scrub(m) for m in secret_messages]),
                "opencensus_build": timed(
                    lambda: [opencensus.log_record_to_envelope(record) for record in records]
                ),
                "opencensus_serialise": timed(opencensus_bodies),
            },
            repeats=settings.repeats,
        )
    finally:
        opencensus.close()
    _add_series(
        result,
        "export_azfunc_build_us",
        "export: azfunc EnvelopeBuilder.build",
        series["azfunc_build"],
    )
    _add_series(
        result,
        "export_azfunc_serialise_us",
        "export: azfunc json.dumps (512-item batches)",
        series["azfunc_serialise"],
    )
    _add_series(
        result, "export_azfunc_gzip_us", "export: azfunc gzip level 1", series["azfunc_gzip"]
    )
    _add_series(
        result,
        "export_azfunc_scrub_us",
        "export: scrubbing a message without secrets (part of build)",
        series["azfunc_scrub"],
    )
    _add_series(
        result,
        "export_azfunc_scrub_secret_us",
        "export: scrubbing a message holding a password and a URL password",
        series["azfunc_scrub_secret"],
    )
    azfunc_total = sum(
        series[k].median_us for k in ("azfunc_build", "azfunc_serialise", "azfunc_gzip")
    )
    result.add(
        "export_azfunc_total_us", "export: azfunc build + serialise + gzip", azfunc_total, "µs"
    )
    _add_series(
        result,
        "export_opencensus_build_us",
        "export: opencensus log_record_to_envelope",
        series["opencensus_build"],
    )
    _add_series(
        result,
        "export_opencensus_serialise_us",
        "export: opencensus json.dumps (100-item batches)",
        series["opencensus_serialise"],
    )
    result.add(
        "export_opencensus_total_us",
        "export: opencensus build + serialise",
        series["opencensus_build"].median_us + series["opencensus_serialise"].median_us,
        "µs",
    )


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` cut into consecutive batches of at most ``size``, as an exporter sends them."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def _add_series(result: BenchmarkResult, key: str, label: str, series: Series) -> None:
    result.add(key, label, series.median_us, "µs", series.values_us)


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure per-record costs on both sides of the queue."""
    result = BenchmarkResult("per_record", "Per record")
    with scratch_storage() as storage:
        try:
            _caller_side(result, settings, emulator.connection_string, storage)
            _backlog(result, settings, emulator.connection_string, storage)
            _export_side(result, settings, emulator.connection_string)
        finally:
            azfunc_telemetry.shutdown(5.0)
    result.notes.append(
        "caller-side costs are timed in chunks of "
        f"{settings.record_chunk} calls inside one invocation, with both libraries' queues "
        "drained between chunks; opencensus's worker thread wakes on every record and exports "
        "batches of 100 during the chunk, which is part of its cost"
    )
    return result
