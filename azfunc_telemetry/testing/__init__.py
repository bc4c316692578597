"""Test kit for apps that use azfunc_telemetry, and for azfunc_telemetry itself.

* :class:`IngestionEmulator`: a real Application Insights ingestion endpoint on 127.0.0.1.
  Point ``setup(connection_string=emulator.connection_string)`` at it and assert on what
  arrives, or script failures (throttling, outages, partial success) to test resilience.
* :class:`FakeContext`: a ``func.Context`` for calling your function directly in a unit test.
* :class:`LocalDispatcher`: runs functions concurrently the way the Functions worker does, and
  writes the host's request row per invocation (:class:`HostTelemetry`) as the host does.
"""

from __future__ import annotations

from ..export.memory import InMemoryExporter
from .dispatcher import LocalDispatcher
from .emulator import IngestionEmulator, RecordedRequest, ScriptedResponse
from .fakes import WORKER_THREAD_LOCAL, FakeContext, FakeRetryContext, FakeTraceContext
from .host import HostRequest, HostTelemetry

__all__ = [
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
]
