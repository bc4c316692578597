"""Test setup for the sample app: import its functions as the worker does, reset telemetry.

The Functions worker puts the app's folder on ``sys.path`` and imports each function folder as a
package; the tests do the same, so ``from HttpSync import main`` and the functions' own
``from shared_code import ...`` work when pytest runs from the ``samples`` folder.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator

APP_DIR = Path(__file__).resolve().parents[1]
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))


@pytest.fixture(autouse=True)
def clean_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without telemetry settings and ends with telemetry shut down."""
    for name in list(os.environ):
        if name.startswith(("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_")):
            monkeypatch.delenv(name)
    # Undelivered telemetry must not be kept on disk by a test.
    monkeypatch.setenv("AZFUNC_TELEMETRY_STORAGE_ENABLED", "false")
    yield
    azfunc_telemetry.shutdown(0.5)


@pytest.fixture
def emulator() -> Iterator[IngestionEmulator]:
    """A local ingestion endpoint the library sends to, with the worker's INFO log level."""
    root = logging.getLogger()
    level = root.level
    with IngestionEmulator() as running:
        root.setLevel(logging.INFO)
        azfunc_telemetry.setup(connection_string=running.connection_string, export_interval_s=0.05)
        try:
            yield running
        finally:
            azfunc_telemetry.shutdown(0.5)
            root.setLevel(level)
