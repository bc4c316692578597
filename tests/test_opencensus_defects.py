"""opencensus-ext-azure defects our design avoids, each pinned against the emulator.

Tests named ``test_opencensus_defect_...`` show the defect in opencensus-ext-azure 1.1.15 as
observed today (statsbeat disabled with APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true, the
usual way to keep it off the network). If one of them starts failing, opencensus changed: look
again. The test next to each shows that azfunc_telemetry does not have the defect; the exit
defect's counterpart is in ``test_reliability_exit.py``.
"""

from __future__ import annotations

import http.server
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import messages
from procs.launch import child_environment, fast_setup, run_program, stored_blobs, wait_until

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator, ScriptedResponse

#: AzureLogHandler's constructor; its instances also take ``close(timeout)`` and ``flush(timeout)``.
OpenCensusHandler = Callable[..., Any]

pytestmark = pytest.mark.usefixtures("info_logging")


@pytest.fixture(scope="module")
def azure_log_handler() -> OpenCensusHandler:
    """opencensus' AzureLogHandler class, imported without its side effect on HTTP servers.

    Importing it patches ``http.server.HTTPServer.__init__`` to count requests, which would
    wrap our emulator's handler methods again for every emulator built afterwards.
    """
    from opencensus.ext.azure.log_exporter import AzureLogHandler
    from opencensus.ext.azure.metrics_exporter.standard_metrics import http_requests

    http.server.HTTPServer.__init__ = http_requests.ORIGINAL_CONSTRUCTOR  # type: ignore[method-assign]
    handler_class: OpenCensusHandler = AzureLogHandler
    if sys.version_info >= (3, 13):
        # Its lock=None breaks every log call on 3.13 (pinned below); given a real lock the
        # handler runs, so the defects these tests show stay visible there too.
        handler_class = type(
            "LockedAzureLogHandler", (AzureLogHandler,), {"createLock": logging.Handler.createLock}
        )
    return handler_class


@pytest.mark.skipif(sys.version_info < (3, 13), reason="Handler.handle uses the lock from 3.13")
def test_opencensus_defect_log_handler_raises_into_the_caller_on_python_313(
    emulator: IngestionEmulator, isolated_logger: logging.Logger, tmp_path: Path
) -> None:
    """AzureLogHandler sets its lock to None; Python 3.13's Handler.handle does ``with
    self.lock``, so every log call raises TypeError into the application. Ours overrides
    handle() and takes no lock, so the whole suite passes on 3.13."""
    from opencensus.ext.azure.log_exporter import AzureLogHandler

    handler = AzureLogHandler(
        connection_string=emulator.connection_string,
        enable_local_storage=False,
        storage_path=str(tmp_path),
    )
    isolated_logger.addHandler(handler)
    try:
        with pytest.raises(TypeError, match="context manager"):
            isolated_logger.info("this raises")
    finally:
        isolated_logger.removeHandler(handler)
        handler.close(1.0)


@pytest.fixture(autouse=True)
def _statsbeat_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")


@pytest.fixture
def isolated_logger() -> Iterator[logging.Logger]:
    """A logger that does not propagate, for a handler under test."""
    logger = logging.getLogger("app.opencensus")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


@contextmanager
def attached(
    logger: logging.Logger,
    handler_class: OpenCensusHandler,
    connection_string: str,
    storage: Path,
    close_timeout_s: float = 2.0,
    **options: Any,
) -> Iterator[Any]:
    """An AzureLogHandler on ``logger`` for the block, then taken off and closed.

    Closing waits up to ``close_timeout_s`` for its worker, so no export thread outlives the
    test.
    """
    handler = handler_class(
        connection_string=connection_string, storage_path=str(storage), **options
    )
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.close(close_timeout_s)


class Recorder(logging.Handler):
    """Collects records of one logger and signals when a message containing ``text`` arrives."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


def log_many(logger: logging.Logger, count: int) -> None:
    """``count`` log calls, as a busy function makes them."""
    for index in range(count):
        logger.info("record %d", index)


# -- a full queue on the root logger ------------------------------------------------------


@pytest.mark.slow
def test_opencensus_defect_full_queue_on_root_logger_raises_recursion_error(
    azure_log_handler: OpenCensusHandler,
    emulator: IngestionEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AzureLogHandler on the root logger with a small queue: its "Queue is full" warning
    re-enters itself until RecursionError escapes the application's own logger.info()."""
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in production
    emulator.script(ScriptedResponse(delay_s=1.0))  # a slow answer keeps the worker busy
    with attached(
        logging.getLogger(),
        azure_log_handler,
        emulator.connection_string,
        tmp_path / "oc",
        queue_capacity=5,
        max_batch_size=1,
    ):
        logging.getLogger("app").info("first")
        emulator.wait_for_requests(1)
        with pytest.raises(RecursionError):
            log_many(logging.getLogger("app"), 200)


def test_tiny_queue_on_root_logger_never_raises(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """Our handler on the root logger with queue_size=5: records beyond it are counted as
    dropped, one warning says so, and logger.info() never raises."""
    fast_setup(emulator.connection_string, tmp_path / "store", queue_size=5)
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    ours = logging.getLogger("azfunc_telemetry")
    collect = Collect(logging.WARNING)
    ours.addHandler(collect)
    try:
        for index in range(10_000):
            logging.getLogger("app").info("record %d", index)
        wait_until(lambda: any("queue is full" in text for text in warnings))
    finally:
        ours.removeHandler(collect)
    assert sum("queue is full" in text for text in warnings) == 1
    wait_until(lambda: azfunc_telemetry.stats().sent + azfunc_telemetry.stats().dropped == 10_000)
    counters = azfunc_telemetry.stats()
    assert counters.dropped_by_cause == {"queue_full": counters.dropped}
    assert counters.dropped > 9_000


# -- connection errors with statsbeat disabled ----------------------------------------------


def test_opencensus_defect_connection_refused_drops_the_batch(
    azure_log_handler: OpenCensusHandler, isolated_logger: logging.Logger, tmp_path: Path
) -> None:
    """With statsbeat off, a refused connection is logged as "Retrying" but the batch is
    dropped: nothing is stored, and it is never sent once the endpoint is back."""
    with IngestionEmulator() as first:
        port, connection_string = first.port, first.connection_string
    storage = tmp_path / "oc"
    transport = logging.getLogger("opencensus.ext.azure.common.transport")
    dropped = Recorder("Error while reading response body")
    transport.addHandler(dropped)
    try:
        with attached(
            isolated_logger,
            azure_log_handler,
            connection_string,
            storage,
            close_timeout_s=1.0,
            export_interval=0.05,
        ) as handler:
            isolated_logger.info("sent during the outage")
            assert dropped.seen.wait(10.0)
            assert stored_blobs(storage) == []
            with IngestionEmulator(port=port) as back:
                isolated_logger.info("sent after the outage")
                back.wait_for(lambda envelopes: "sent after the outage" in messages(envelopes))
                handler.close(5.0)  # drains storage on the way out
                assert messages(back.envelopes) == ["sent after the outage"]
    finally:
        transport.removeHandler(dropped)


def test_connection_refused_is_persisted_and_delivered_later(tmp_path: Path) -> None:
    """Ours: the batch goes to local storage and is delivered when the endpoint is back."""
    with IngestionEmulator() as first:
        port, connection_string = first.port, first.connection_string
    fast_setup(connection_string, tmp_path / "store", max_attempts=1)
    logging.getLogger("app").info("sent during the outage")
    wait_until(lambda: azfunc_telemetry.stats().persisted == 1)
    with IngestionEmulator(port=port) as back:
        logging.getLogger("app").info("sent after the outage")
        back.wait_for(lambda envelopes: len(messages(envelopes)) == 2, timeout=5.0)
        assert sorted(messages(back.envelopes)) == [
            "sent after the outage",
            "sent during the outage",
        ]


# -- flush() -------------------------------------------------------------------------------


@pytest.mark.slow
def test_opencensus_defect_flush_returns_before_delivery(
    azure_log_handler: OpenCensusHandler,
    emulator: IngestionEmulator,
    isolated_logger: logging.Logger,
    tmp_path: Path,
) -> None:
    """Once its worker took the record from the queue, AzureLogHandler.flush() returns at
    once although nothing was sent; the record goes out at the next export interval."""
    with attached(
        isolated_logger,
        azure_log_handler,
        emulator.connection_string,
        tmp_path / "oc",
        export_interval=1.0,
    ) as handler:
        isolated_logger.info("flush me")
        wait_until(handler._queue.is_empty)  # the worker holds the record, waiting for more
        handler.flush(timeout=5.0)
        assert emulator.envelopes == []
        emulator.wait_for(lambda envelopes: messages(envelopes) == ["flush me"], timeout=5.0)


def test_flush_returns_true_only_after_delivery(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """Ours: flush() returns True only once the endpoint has accepted the items, even when it
    is slow to answer."""
    fast_setup(emulator.connection_string, tmp_path / "store", export_interval_s=2.0)
    emulator.script(ScriptedResponse(delay_s=0.3))
    logging.getLogger("app").info("flush me")
    started = time.monotonic()
    assert azfunc_telemetry.flush(5.0)
    assert time.monotonic() - started >= 0.3
    assert messages(emulator.envelopes) == ["flush me"]


# -- exit on a stuck endpoint ---------------------------------------------------------------


@pytest.mark.slow
def test_opencensus_defect_exit_waits_for_the_grace_period_and_loses_the_record(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A process using AzureLogHandler whose endpoint hangs needs about 5 s to exit, and the
    record in flight is neither delivered nor stored. (Ours: test_reliability_exit.py,
    test_exit_with_hung_endpoint_meets_the_deadline_and_persists.)"""
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    storage = tmp_path / "oc"
    env = child_environment(emulator.connection_string, tmp_path / "unused")
    env["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    run = run_program(
        "opencensus_emit_then_exit",
        emulator.connection_string,
        str(storage),
        "stuck at exit",
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.exit_s >= 4.5
    assert emulator.envelopes == []
    assert stored_blobs(storage) == []


# -- the track URL ----------------------------------------------------------------------------


def test_opencensus_defect_trailing_slash_doubles_the_track_path(
    azure_log_handler: OpenCensusHandler,
    emulator: IngestionEmulator,
    isolated_logger: logging.Logger,
    tmp_path: Path,
) -> None:
    """A connection string whose endpoint ends in "/" (as the portal gives it) makes
    AzureLogHandler post to //v2.1/track."""
    assert emulator.connection_string.endswith("/")
    with attached(
        isolated_logger,
        azure_log_handler,
        emulator.connection_string,
        tmp_path / "oc",
        export_interval=0.05,
    ):
        isolated_logger.info("where to")
        request = emulator.wait_for_requests(1)[0]
        assert request.request_line == "POST //v2.1/track HTTP/1.1"


def test_track_path_has_one_slash(emulator: IngestionEmulator, tmp_path: Path) -> None:
    """Ours: the same connection string posts to /v2.1/track."""
    fast_setup(emulator.connection_string, tmp_path / "store")
    logging.getLogger("app").info("where to")
    assert azfunc_telemetry.flush(5.0)
    assert [r.request_line for r in emulator.requests] == ["POST /v2.1/track HTTP/1.1"]
