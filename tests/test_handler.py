"""A TelemetryHandler an app builds itself exports into the pipeline setup() built."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from helpers import count_type, messages, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator


@pytest.fixture
def quiet_logger() -> Iterator[logging.Logger]:
    """A logger that does not propagate to the root, as some frameworks configure theirs."""
    logger = logging.getLogger("tests.handler.framework")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_a_handler_made_before_setup_exports_a_non_propagating_logger(
    emulator: IngestionEmulator, info_logging: None, quiet_logger: logging.Logger
) -> None:
    """Built before setup(), it lets records go until then and exports tagged ones after."""
    handler = azfunc_telemetry.TelemetryHandler()
    quiet_logger.addHandler(handler)
    quiet_logger.info("before setup")
    azfunc_telemetry.setup(
        connection_string=emulator.connection_string,
        export_interval_s=0.05,
        invocation_telemetry="request",
    )

    @azfunc_telemetry.instrument
    def handle(context: FakeContext) -> None:
        quiet_logger.info("inside the invocation")

    context = FakeContext("handle")
    handle(context=context)
    emulator.wait_for(count_type("RequestData", 1), timeout=10)
    assert azfunc_telemetry.flush(10)
    envelopes = emulator.envelopes
    assert messages(envelopes) == ["inside the invocation"]
    (record,) = of_type(envelopes, "MessageData")
    assert props(record)["invocation_id"] == context.invocation_id
    assert props(record)["logger_name"] == "tests.handler.framework"


def test_a_handler_follows_setup_to_its_new_pipeline(
    info_logging: None, quiet_logger: logging.Logger
) -> None:
    """After a reconfiguring setup() the same handler queues into the new pipeline."""
    first = azfunc_telemetry.InMemoryExporter()
    second = azfunc_telemetry.InMemoryExporter()
    quiet_logger.addHandler(azfunc_telemetry.TelemetryHandler(logging.INFO))
    azfunc_telemetry.setup(exporter=first, export_interval_s=0.05)
    quiet_logger.info("to the first")
    assert azfunc_telemetry.flush(10)
    azfunc_telemetry.setup(exporter=second, export_interval_s=0.05)
    quiet_logger.info("to the second")
    quiet_logger.debug("below the handler's level")
    assert azfunc_telemetry.flush(10)
    assert messages(first.envelopes) == ["to the first"]
    assert messages(second.envelopes) == ["to the second"]


def test_setup_puts_exactly_one_handler_on_the_root_logger(info_logging: None) -> None:
    """The root logger carries one TelemetryHandler however often setup() reconfigures."""
    for interval in (0.05, 0.1, 0.2):
        azfunc_telemetry.setup(
            exporter=azfunc_telemetry.InMemoryExporter(), export_interval_s=interval
        )
    installed = [
        h for h in logging.getLogger().handlers if isinstance(h, azfunc_telemetry.TelemetryHandler)
    ]
    assert len(installed) == 1
