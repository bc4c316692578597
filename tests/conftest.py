"""Shared fixtures: every test starts with no telemetry pipeline and a clean environment, and
may ask for an ingestion emulator and a root logger that passes INFO records."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

import azfunc_telemetry
from azfunc_telemetry import diagnostics
from azfunc_telemetry.runtime import tracker
from azfunc_telemetry.testing import IngestionEmulator

_ENV_PREFIXES = ("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_")
_ENV_NAMES = (
    "PYTHON_THREADPOOL_THREAD_COUNT",
    "FUNCTIONS_WORKER_RUNTIME",
    "AzureWebJobsScriptRoot",
    "WEBSITE_SITE_NAME",
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_SKU",
)

# Decorating a function sets telemetry up from app settings, and test modules decorate theirs
# while they are collected: the developer's own settings must not point that anywhere.
for _name in list(os.environ):
    if _name.startswith(_ENV_PREFIXES):
        del os.environ[_name]


@pytest.fixture(autouse=True)
def clean_telemetry(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No leftover pipeline, handler, warning memory or settings between tests."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    # Keep local storage of every test out of the shared temp directory.
    monkeypatch.setenv("AZFUNC_TELEMETRY_STORAGE_PATH", str(tmp_path_factory.mktemp("storage")))
    azfunc_telemetry.shutdown(0.5)  # what collecting decorated test functions set up
    root = logging.getLogger()
    level = root.level
    handlers = list(root.handlers)
    diagnostics.forget_warnings()
    tracker().snapshot()  # start each test with a fresh concurrency interval
    yield
    azfunc_telemetry.shutdown(0.5)
    diagnostics.forget_warnings()
    root.setLevel(level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)


@pytest.fixture
def emulator() -> Iterator[IngestionEmulator]:
    """An ingestion emulator serving on 127.0.0.1 for the test, stopped after it."""
    with IngestionEmulator() as running:
        yield running


@pytest.fixture
def info_logging() -> None:
    """The root logger at INFO, so the tests' ``info()`` records reach the telemetry handler.

    ``clean_telemetry`` puts the previous level back after the test.
    """
    logging.getLogger().setLevel(logging.INFO)
