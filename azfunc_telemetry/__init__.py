"""Invocation-aware Application Insights telemetry for Azure Functions Python apps.

Adopt it with one line::

    import azfunc_telemetry

    @azfunc_telemetry.instrument
    def main(req: func.HttpRequest) -> func.HttpResponse: ...

or, for a v2 app, ``azfunc_telemetry.instrument_app(app)``. Every log record emitted during the
invocation (in its thread, its asyncio tasks, and threads started with our helpers) is sent to
Application Insights tagged with ``invocation_id``, ``function_name`` and ``level`` and joined to
the host's request by ``operation_Id``; each invocation also becomes a ``requests`` row with
timing and thread-pool concurrency data.

Names used only by some apps (spans, thread helpers, ``instrument_app``, exporters) are imported
on first use, so ``import azfunc_telemetry`` stays cheap on a cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .capture.context import current_invocation
from .invocation.middleware import instrument
from .model.invocation import InvocationContext
from .runtime import flush, setup, shutdown, stats

if TYPE_CHECKING:
    from .capture.handler import InvocationContextFilter, TelemetryHandler
    from .capture.spans import Span, span
    from .capture.threads import InvocationExecutor, wrap_in_invocation
    from .config import TelemetryConfig
    from .export import Exporter
    from .export.memory import InMemoryExporter
    from .export.stats import TelemetryStats
    from .invocation.app import instrument_app
    from .invocation.lifecycle import mark_dispatched

_LAZY = {
    "Exporter": ".export",
    "InMemoryExporter": ".export.memory",
    "InvocationContextFilter": ".capture.handler",
    "InvocationExecutor": ".capture.threads",
    "Span": ".capture.spans",
    "TelemetryConfig": ".config",
    "TelemetryHandler": ".capture.handler",
    "TelemetryStats": ".export.stats",
    "instrument_app": ".invocation.app",
    "mark_dispatched": ".invocation.lifecycle",
    "span": ".capture.spans",
    "wrap_in_invocation": ".capture.threads",
}

__all__ = [
    "Exporter",
    "InMemoryExporter",
    "InvocationContext",
    "InvocationContextFilter",
    "InvocationExecutor",
    "Span",
    "TelemetryConfig",
    "TelemetryHandler",
    "TelemetryStats",
    "__version__",
    "current_invocation",
    "flush",
    "instrument",
    "instrument_app",
    "mark_dispatched",
    "setup",
    "shutdown",
    "span",
    "stats",
    "wrap_in_invocation",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'azfunc_telemetry' has no attribute {name!r}")
    loaded = importlib.import_module(module, __name__)
    # Bind every public name of that module at once, so a later import of the submodule can
    # never leave the package attribute pointing at the module instead of the function.
    for other, other_module in _LAZY.items():
        if other_module == module:
            globals()[other] = getattr(loaded, other)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
