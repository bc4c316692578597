"""Process-wide lifecycle: ``setup``, ``flush``, ``shutdown``, ``stats``.

One pipeline per process (per worker process when ``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1).
``setup`` is idempotent and cheap: it imports nothing heavy and opens no connection; the export
thread does that when there is something to send.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .capture.handler import Destination, ShutdownDropCounter, TelemetryHandler
from .capture.handler import connect as connect_handlers
from .capture.spans import connect as connect_spans
from .config import InvocationTelemetry, TelemetryConfig, resolve_config
from .diagnostics import forget_warnings, logger, warn_once
from .exits import shut_down_at_exit
from .export import Envelope, Exporter
from .export.pipeline import PeriodicTask, Pipeline
from .export.stats import DeliveryStats, TelemetryStats
from .invocation.concurrency import ConcurrencyTracker
from .invocation.hostjson import decide_invocation_telemetry, host_forwards_logs, read_host_settings
from .invocation.lifecycle import Reporting, on_first_invocation
from .invocation.lifecycle import connect as connect_invocations
from .invocation.middleware import on_decoration
from .invocation.watchdog import timeout_watchdog
from .model.records import MetricItem, QueueItem
from .signals import install_sigterm_flush, stop_within, when_terminated

if TYPE_CHECKING:
    from .export.appinsights.envelope import EnvelopeBuilder

__all__ = ["flush", "get_runtime", "setup", "shutdown", "stats", "tracker"]

_NO_IKEY = "00000000-0000-0000-0000-000000000000"
#: Warning keys of configuration problems, which are said once per process.
_PROBLEM_KEY_PREFIX = "config:"


class Runtime:
    """Everything ``setup`` built; replaced as a whole by a reconfiguring ``setup``."""

    __slots__ = ("config", "handler", "overrides", "pipeline")

    def __init__(
        self,
        config: TelemetryConfig,
        overrides: dict[str, Any],
        pipeline: Pipeline[Envelope] | None,
        handler: TelemetryHandler | None,
    ) -> None:
        self.config = config
        self.overrides = overrides
        self.pipeline = pipeline
        self.handler = handler

    def submit(self, item: QueueItem) -> None:
        """Queue an item if export is on; a no-op otherwise."""
        if self.pipeline is not None:
            self.pipeline.submit(item)


_lock = threading.RLock()
_runtime: Runtime | None = None
#: The pipeline the last ``shutdown()`` stopped: ``stats()`` keeps reporting its final figures.
_retired: Pipeline[Envelope] | None = None
_tracker = ConcurrencyTracker()


def tracker() -> ConcurrencyTracker:
    """The process-wide concurrency tracker."""
    return _tracker


def get_runtime() -> Runtime | None:
    """The current runtime, or ``None`` before the first ``setup``."""
    return _runtime


def setup(
    *,
    backoff_base_s: float | None = None,
    backoff_max_s: float | None = None,
    batch_size: int | None = None,
    cloud_role: str | None = None,
    cloud_role_instance: str | None = None,
    connection_string: str | None = None,
    enabled: bool | None = None,
    exit_timeout_s: float | None = None,
    export_interval_s: float | None = None,
    exporter: Exporter[Envelope] | None = None,
    gzip: bool | None = None,
    invocation_telemetry: InvocationTelemetry | None = None,
    max_attempts: int | None = None,
    metrics_interval_s: float | None = None,
    queue_size: int | None = None,
    request_timeout_s: float | None = None,
    scrub_patterns: Sequence[str] | None = None,
    sensitive_keys: Sequence[str] | None = None,
    storage_enabled: bool | None = None,
    storage_max_bytes: int | None = None,
    storage_path: str | os.PathLike[str] | None = None,
    storage_retention_s: float | None = None,
    storage_retry_interval_s: float | None = None,
    strict: bool = False,
    timeout_warning_ratio: float | None = None,
) -> TelemetryConfig:
    """Configure telemetry for this process; safe to call any number of times.

    Every option may also come from an app setting: ``connection_string`` from
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` (or the legacy ``APPINSIGHTS_INSTRUMENTATIONKEY``),
    ``queue_size`` from ``AZFUNC_TELEMETRY_QUEUE_SIZE`` and so on (the README's table lists
    them). An argument left at ``None`` is not given: the app setting, else the default, is used.
    A bad value, given or set, is reported once by its name and the default is used instead.
    The arguments are in alphabetical order.

    Args:
        backoff_base_s: first wait before retrying a failed batch; doubles per attempt.
        backoff_max_s: longest wait between retries (a ``Retry-After`` wins).
        batch_size: items per request.
        cloud_role: ``cloud_RoleName`` of every item.
        cloud_role_instance: ``cloud_RoleInstance`` of every item.
        connection_string: the Application Insights connection string.
        enabled: ``False`` turns export off.
        exit_timeout_s: longest time delivery may hold up process exit.
        export_interval_s: longest wait before a partial batch is sent.
        exporter: deliver through this exporter instead (for example ``InMemoryExporter``).
        gzip: compress request bodies.
        invocation_telemetry: ``"auto"`` (default), ``"request"`` or ``"dependency"``: report
            each invocation as a ``requests`` row, or as an ``InProc`` dependency under the
            host's own request; ``auto`` picks ``dependency`` unless host.json (or its app
            setting override) turns the host's ``Host.Results`` requests off.
        max_attempts: in-memory attempts before a batch goes to local storage.
        metrics_interval_s: concurrency metrics cadence.
        queue_size: items held in memory; beyond it new items are dropped and counted.
        request_timeout_s: limit of each HTTP attempt.
        scrub_patterns: extra regular expressions whose matches are redacted before export.
        sensitive_keys: property names (matched as parts of names, any case) whose values are
            redacted whole, added to the built-in ones (``password``, ``secret``, ``token``...).
        storage_enabled: persist what cannot be delivered.
        storage_max_bytes: cap of local storage.
        storage_path: folder of local storage (owner-only).
        storage_retention_s: age beyond which stored items are deleted (and counted).
        storage_retry_interval_s: how often stored items are retried.
        strict: raise ``ValueError`` on a missing or malformed setting instead of warning.
        timeout_warning_ratio: share of ``functionTimeout`` that triggers the slow-invocation
            warning; 0 turns it off.

    Returns:
        The configuration in force. A second call with the same arguments changes nothing;
        one with different arguments replaces the pipeline (flushing the old one briefly).
        A problem already reported is not reported again.
    """
    global _runtime, _retired
    arguments: dict[str, Any] = {
        "backoff_base_s": backoff_base_s,
        "backoff_max_s": backoff_max_s,
        "batch_size": batch_size,
        "cloud_role": cloud_role,
        "cloud_role_instance": cloud_role_instance,
        "connection_string": connection_string,
        "enabled": enabled,
        "exit_timeout_s": exit_timeout_s,
        "export_interval_s": export_interval_s,
        "exporter": exporter,
        "gzip": gzip,
        "invocation_telemetry": invocation_telemetry,
        "max_attempts": max_attempts,
        "metrics_interval_s": metrics_interval_s,
        "queue_size": queue_size,
        "request_timeout_s": request_timeout_s,
        "scrub_patterns": scrub_patterns,
        "sensitive_keys": sensitive_keys,
        "storage_enabled": storage_enabled,
        "storage_max_bytes": storage_max_bytes,
        "storage_path": storage_path,
        "storage_retention_s": storage_retention_s,
        "storage_retry_interval_s": storage_retry_interval_s,
        "timeout_warning_ratio": timeout_warning_ratio,
    }
    given = {name: value for name, value in arguments.items() if value is not None}
    if isinstance(given.get("scrub_patterns"), list):
        given["scrub_patterns"] = tuple(given["scrub_patterns"])
    with _lock:
        install_sigterm_flush()  # SIGTERM then flushes first (main thread only; signals.py)
        current = _runtime
        if current is not None and (not given or given == current.overrides):
            return current.config
        config = resolve_config({k: v for k, v in given.items() if k != "exporter"})
        blocking = [p for p in config.problems if p.kind in ("missing", "invalid")]
        if strict and blocking:
            raise ValueError("; ".join(p.message for p in blocking))
        if current is not None:
            _retire(current)
            # Delivery warnings start afresh with the new pipeline; a configuration problem
            # already reported stays reported (the same setting is read again).
            forget_warnings(keep_prefix=_PROBLEM_KEY_PREFIX)
        for problem in config.problems:
            if problem.kind == "missing" and exporter is not None:
                continue
            warn_once(
                f"{_PROBLEM_KEY_PREFIX}{problem.setting}:{problem.message}", "%s", problem.message
            )
        _runtime = _build(config, given, exporter)
        _retired = None
        pipeline = _runtime.pipeline
        connect_invocations(Reporting(pipeline.submit if pipeline else None, _tracker))
        connect_spans(pipeline.submit if pipeline else None)
        shut_down_at_exit(shutdown, _own_threads)
        _check_duplicates(_runtime)
        return config


def _build(
    config: TelemetryConfig, given: dict[str, Any], exporter: Exporter[Envelope] | None
) -> Runtime:
    if not config.enabled or (config.connection is None and exporter is None):
        connect_handlers(None)
        return Runtime(config=config, overrides=given, pipeline=None, handler=None)
    ikey = config.connection.instrumentation_key if config.connection else _NO_IKEY
    invocation_telemetry = _decide_invocation_telemetry(config)

    def make_builder() -> EnvelopeBuilder:
        from .export.appinsights.envelope import EnvelopeBuilder
        from .model.scrubbing import Scrubber

        return EnvelopeBuilder(
            ikey,
            cloud_role=config.cloud_role,
            cloud_role_instance=config.cloud_role_instance,
            scrubber=Scrubber(config.scrub_patterns, sensitive_keys=config.sensitive_keys),
            invocation_telemetry=invocation_telemetry,
        )

    def make_exporter(stats: DeliveryStats) -> Exporter[Envelope]:
        if exporter is not None:
            return exporter
        from .export.appinsights.exporter import AzureMonitorExporter

        return AzureMonitorExporter(config, stats)

    def has_stored_telemetry() -> bool:
        from .config import default_storage_path
        from .export.appinsights.storage import has_blobs

        path = default_storage_path(config)
        return exporter is None and config.storage_enabled and has_blobs(path)

    pipeline = Pipeline(
        builder_factory=make_builder,
        exporter_factory=make_exporter,
        startup_probe=has_stored_telemetry,
        capacity=config.queue_size,
        batch_size=config.batch_size,
        export_interval_s=config.export_interval_s,
    )
    connect_handlers(Destination(pipeline.submit, pipeline.excluded_threads, pipeline.feed_back))
    handler = TelemetryHandler()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, (TelemetryHandler, ShutdownDropCounter)):
            root.removeHandler(existing)
    root.addHandler(handler)
    runtime = Runtime(config=config, overrides=given, pipeline=pipeline, handler=handler)
    pipeline.add_periodic(
        PeriodicTask(config.metrics_interval_s, lambda: _emit_metrics(runtime), on_flush=True)
    )
    watchdog = timeout_watchdog(config.timeout_warning_ratio, pipeline.submit)
    if watchdog is not None:
        pipeline.add_periodic(watchdog)
    return runtime


def _decide_invocation_telemetry(config: TelemetryConfig) -> str:
    """``request`` or ``dependency``, decided once per setup (``auto`` reads host.json)."""
    choice, reason = decide_invocation_telemetry(config.invocation_telemetry)
    logger.debug("invocations are reported as %s items: %s", choice, reason)
    return choice


def _emit_metrics(runtime: Runtime) -> None:
    snap = _tracker.snapshot()
    if not snap.invocations and not snap.peak_total:
        return  # an idle process has nothing to say
    now = time.time()
    properties = {"pool_size_source": snap.pool_source}
    values = {
        "azfunc_inflight_invocations": snap.peak_total,
        "azfunc_inflight_sync": snap.peak_sync,
        "azfunc_inflight_async": snap.peak_async,
        "azfunc_pool_size": snap.pool_size,
        "azfunc_pool_utilization": round(snap.peak_sync / snap.pool_size, 4)
        if snap.pool_size
        else 0.0,
        "azfunc_invocations": snap.invocations,
        "azfunc_pool_saturated_invocations": snap.saturated_invocations,
    }
    for name, value in values.items():
        runtime.submit(MetricItem(name, float(value), now, None, None, None, properties))


def _check_duplicates(runtime: Runtime) -> None:
    if runtime.pipeline is None or not os.environ.get("FUNCTIONS_WORKER_RUNTIME"):
        return
    settings = read_host_settings()
    if host_forwards_logs(settings):
        warn_once(
            "duplicates",
            "The Functions host also sends your log records to Application Insights, so each "
            'record will be stored twice in traces. Set "logging": {"logLevel": '
            '{"Function": "None"}} in host.json (requests keep coming from the host) or use '
            '"telemetryMode": "OpenTelemetry"; see the azfunc_telemetry README.',
        )


def _retire(runtime: Runtime) -> None:
    if runtime.handler is not None:
        logging.getLogger().removeHandler(runtime.handler)
    if runtime.pipeline is not None:
        runtime.pipeline.shutdown(runtime.config.exit_timeout_s)


def _own_threads() -> set[int] | None:
    """The idents of the export thread(s), or ``None`` when telemetry is not exporting."""
    runtime = _runtime
    if runtime is None or runtime.pipeline is None:
        return None
    return runtime.pipeline.excluded_threads


def ensure_setup() -> Runtime:
    """The runtime, running ``setup()`` with app settings on first use."""
    runtime = _runtime
    if runtime is None:
        setup()
        runtime = _runtime
        assert runtime is not None
    return runtime


def _set_up_at_decoration() -> None:
    """Decoration sets telemetry up, with the SIGTERM flush first (it runs on the main thread)."""
    install_sigterm_flush()
    ensure_setup()


on_first_invocation(ensure_setup)
on_decoration(_set_up_at_decoration)


def _stop_on_sigterm() -> Callable[[], object] | None:
    """Shut telemetry down within its exit deadline; returns how to set it up again."""
    active = _runtime
    if active is None:
        return None
    overrides = dict(active.overrides)
    stop_within(active.config.exit_timeout_s, shutdown)
    return lambda: setup(**overrides)


when_terminated(_stop_on_sigterm)


def flush(timeout_s: float = 5.0) -> bool:
    """Wait until every item emitted before the call has been accepted by the endpoint.

    Returns:
        True only when that happened within ``timeout_s`` and nothing was lost since the
        previous flush. False when something is still pending (it stays queued, held for retry
        or in local storage), was dropped (see :func:`stats`), or export is disabled.
    """
    runtime = _runtime
    if runtime is None or runtime.pipeline is None:
        return False
    return runtime.pipeline.flush(timeout_s)


def shutdown(timeout_s: float | None = None) -> None:
    """Flush and stop the export thread, within ``timeout_s`` (default: the exit timeout).

    What cannot be delivered in time is saved to local storage for the next process. The
    logging integration stops exporting: records logged afterwards are counted as dropped
    (cause ``after_shutdown``), and :func:`stats` keeps the final figures, until a later
    ``setup()`` starts afresh.
    """
    global _runtime, _retired
    with _lock:
        runtime, _runtime = _runtime, None
        if runtime is not None and runtime.pipeline is not None:
            _retired = runtime.pipeline
        connect_invocations(None)  # an invocation after this sets up again
        connect_spans(None)
    if runtime is None:
        return
    if runtime.pipeline is not None:
        limit = runtime.config.exit_timeout_s if timeout_s is None else timeout_s
        if not runtime.pipeline.shutdown(limit):
            logger.debug("telemetry shutdown hit its %.1f s limit", limit)
    # Swapped only now: while the pipeline stopped, its handler counted late records itself
    # and showed what the library said about saving the rest.
    if runtime.handler is not None:
        root = logging.getLogger()
        root.removeHandler(runtime.handler)
        if runtime.pipeline is not None:
            root.addHandler(ShutdownDropCounter(runtime.pipeline.stats.after_shutdown))


def stats() -> TelemetryStats:
    """Delivery counters: sent, retried, persisted, dropped (with causes), queued, pending.

    After ``shutdown()`` they are the final figures of the pipeline it stopped, plus the
    records logged since (counted as dropped, cause ``after_shutdown``).
    """
    runtime = _runtime
    if runtime is None and _retired is not None:
        return _retired.snapshot()
    if runtime is None or runtime.pipeline is None:
        return TelemetryStats(
            queued=0, sent=0, retried=0, persisted=0, dropped=0, pending=0, dropped_by_cause={}
        )
    return runtime.pipeline.snapshot()
