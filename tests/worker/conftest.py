"""Fixtures of the worker runtime tests: export to the loopback emulator, hosts kept per module.

A runtime library keeps the app it indexed in module globals, and ``azure.functions`` lets an
app be indexed once, as in a real worker process. So each test module starts one host for
its app and shares it between its tests; each test gets a fresh emulator and forgets the
records the host saw before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azfunc_telemetry.testing import IngestionEmulator


@pytest.fixture
def exporting(emulator: IngestionEmulator, monkeypatch: pytest.MonkeyPatch) -> IngestionEmulator:
    """App settings that export to the loopback emulator, as the app would find them in Azure."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", emulator.connection_string)
    return emulator


@pytest.fixture
def two_thread_pool(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[int]:
    """The module's host restarted with ``PYTHON_THREADPOOL_THREAD_COUNT=2``, then restored.

    The worker (re)starts the runtime's pool the same way when the host specialises it.
    """
    host = request.getfixturevalue("host")
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "2")
    host.library.start_threadpool_executor()
    try:
        yield 2
    finally:
        monkeypatch.delenv("PYTHON_THREADPOOL_THREAD_COUNT")
        host.library.start_threadpool_executor()
