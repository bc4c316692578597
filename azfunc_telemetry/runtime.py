"""Process-wide lifecycle: ``setup``, ``flush``, ``shutdown``, ``stats``.

One pipeline per process (per worker process when ``FUNCTIONS_WORKER_PROCESS_COUNT`` > 1).
``setup`` is idempotent and cheap: it imports nothing heavy and opens no connection; the export
thread does that when there is something to send.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .concurrency import ConcurrencyTracker
from .config import TelemetryConfig, resolve_config
from .diagnostics import forget_warnings, logger, warn_once
from .export import Exporter
from .handler import Destination, TelemetryHandler
from .handler import connect as connect_handlers
from .hostjson import host_forwards_logs, read_host_settings
from .invocation import Reporting, on_first_invocation
from .invocation import connect as connect_invocations
from .items import MetricItem
from .pipeline import PeriodicTask, Pipeline
from .stats import DeliveryStats, TelemetryStats
from .watchdog import timeout_watchdog

if TYPE_CHECKING:
    from .envelope import EnvelopeBuilder

__all__ = ["flush", "get_runtime", "setup", "shutdown", "stats", "tracker"]

_NO_IKEY = "00000000-0000-0000-0000-000000000000"


class Runtime:
    """Everything ``setup`` built; replaced as a whole by a reconfiguring ``setup``."""

    __slots__ = ("config", "handler", "overrides", "pipeline")

    def __init__(
        self,
        config: TelemetryConfig,
        overrides: dict[str, Any],
        pipeline: Pipeline | None,
        handler: TelemetryHandler | None,
    ) -> None:
        self.config = config
        self.overrides = overrides
        self.pipeline = pipeline
        self.handler = handler

    def submit(self, item: object) -> None:
        """Queue an item if export is on; a no-op otherwise."""
        if self.pipeline is not None:
            self.pipeline.submit(item)


_lock = threading.RLock()
_runtime: Runtime | None = None
_tracker = ConcurrencyTracker()
_atexit_registered = False


def tracker() -> ConcurrencyTracker:
    """The process-wide concurrency tracker."""
    return _tracker


def get_runtime() -> Runtime | None:
    """The current runtime, or ``None`` before the first ``setup``."""
    return _runtime


def setup(
    *,
    connection_string: str | None = None,
    exporter: Exporter | None = None,
    strict: bool = False,
    scrub_patterns: Sequence[str] | None = None,
    **overrides: Any,
) -> TelemetryConfig:
    """Configure telemetry for this process; safe to call any number of times.

    Every option may also come from an app setting: ``connection_string`` from
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` (or the legacy ``APPINSIGHTS_INSTRUMENTATIONKEY``),
    ``queue_size`` from ``AZFUNC_TELEMETRY_QUEUE_SIZE`` and so on. An explicit argument wins.

    Args:
        connection_string: the Application Insights connection string.
        exporter: deliver through this exporter instead (for example ``InMemoryExporter``).
        strict: raise ``ValueError`` on a missing or malformed setting instead of warning.
        scrub_patterns: extra regular expressions whose matches are redacted before export.
        **overrides: any field of :class:`~azfunc_telemetry.config.TelemetryConfig`.

    Returns:
        The configuration in force. A second call with the same arguments changes nothing;
        one with different arguments replaces the pipeline (flushing the old one briefly).
    """
    global _runtime
    given: dict[str, Any] = dict(overrides)
    if connection_string is not None:
        given["connection_string"] = connection_string
    if scrub_patterns is not None:
        given["scrub_patterns"] = tuple(scrub_patterns)
    if exporter is not None:
        given["exporter"] = exporter
    with _lock:
        current = _runtime
        if current is not None and (not given or given == current.overrides):
            return current.config
        config = resolve_config({k: v for k, v in given.items() if k != "exporter"})
        blocking = [p for p in config.problems if p.kind in ("missing", "invalid")]
        if strict and blocking:
            raise ValueError("; ".join(p.message for p in blocking))
        if current is not None:
            _retire(current)
            forget_warnings()
        for problem in config.problems:
            if problem.kind == "missing" and exporter is not None:
                continue
            warn_once(f"config:{problem.setting}", "%s", problem.message)
        _runtime = _build(config, given, exporter)
        pipeline = _runtime.pipeline
        connect_invocations(Reporting(pipeline.submit if pipeline else None, _tracker))
        _register_atexit()
        _check_duplicates(_runtime)
        return config


def _build(config: TelemetryConfig, given: dict[str, Any], exporter: Exporter | None) -> Runtime:
    if not config.enabled or (config.connection is None and exporter is None):
        connect_handlers(None)
        return Runtime(config=config, overrides=given, pipeline=None, handler=None)
    ikey = config.connection.instrumentation_key if config.connection else _NO_IKEY

    def make_builder() -> EnvelopeBuilder:
        from .envelope import EnvelopeBuilder
        from .sanitize import Scrubber

        return EnvelopeBuilder(
            ikey,
            cloud_role=config.cloud_role,
            cloud_role_instance=config.cloud_role_instance,
            scrubber=Scrubber(config.scrub_patterns),
        )

    def make_exporter(stats: DeliveryStats) -> Exporter:
        if exporter is not None:
            return exporter
        from .export.azure import AzureMonitorExporter

        return AzureMonitorExporter(config, stats)

    def has_stored_telemetry() -> bool:
        from .config import default_storage_path
        from .export.storage import has_blobs

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
    connect_handlers(Destination(pipeline.submit, pipeline.excluded_threads))
    handler = TelemetryHandler()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, TelemetryHandler):
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


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_shutdown_at_exit)
        _atexit_registered = True


def _shutdown_at_exit() -> None:
    try:
        shutdown()
    except Exception:  # pragma: no cover - never turn an exit into a traceback
        pass


def ensure_setup() -> Runtime:
    """The runtime, running ``setup()`` with app settings on first use."""
    runtime = _runtime
    if runtime is None:
        setup()
        runtime = _runtime
        assert runtime is not None
    return runtime


on_first_invocation(ensure_setup)


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
    logging integration is removed; a later ``setup()`` starts afresh.
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
        connect_invocations(None)  # an invocation after this sets up again
    if runtime is None:
        return
    if runtime.handler is not None:
        logging.getLogger().removeHandler(runtime.handler)
    if runtime.pipeline is not None:
        limit = runtime.config.exit_timeout_s if timeout_s is None else timeout_s
        if not runtime.pipeline.shutdown(limit):
            logger.debug("telemetry shutdown hit its %.1f s limit", limit)


def stats() -> TelemetryStats:
    """Delivery counters: sent, retried, persisted, dropped (with causes), queued, pending."""
    runtime = _runtime
    if runtime is None or runtime.pipeline is None:
        return TelemetryStats(queued=0, sent=0, retried=0, persisted=0, dropped=0, pending=0)
    return runtime.pipeline.snapshot()
