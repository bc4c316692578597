"""The public API the README documents, pinned: a layout change must not move or drop a name."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "azfunc_telemetry": [
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
    ],
    "azfunc_telemetry.testing": [
        "WORKER_THREAD_LOCAL",
        "FakeContext",
        "FakeRetryContext",
        "FakeTraceContext",
        "HostRequest",
        "HostTelemetry",
        "InMemoryExporter",
        "IngestionEmulator",
        "LocalDispatcher",
        "RecordedRequest",
        "ScriptedResponse",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_exactly_the_documented_ones(module_name: str) -> None:
    """``__all__`` lists exactly the documented names, and each one resolves."""
    module = importlib.import_module(module_name)
    assert module.__all__ == PUBLIC[module_name]
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_the_command_line_entry_point_resolves() -> None:
    """The ``azfunc-telemetry`` console script's target exists where setup.py points."""
    from pathlib import Path

    setup_py = (Path(__file__).parents[1] / "setup.py").read_text(encoding="utf-8")
    target = setup_py.split("azfunc-telemetry=", 1)[1].split('"', 1)[0]
    module_name, function = target.split(":")
    assert callable(getattr(importlib.import_module(module_name), function))
