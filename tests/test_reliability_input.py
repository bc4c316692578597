"""Bad input: oversized fields, broken objects, undecodable bytes, bad settings.

Whatever the caller logs, the call returns normally, the record still reaches the endpoint as
well as it can be represented, and the endpoint (which checks like the service) accepts it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import base
from procs.launch import fast_setup

import azfunc_telemetry
from azfunc_telemetry.model.scrubbing import (
    MAX_MESSAGE,
    MAX_PROPERTIES,
    MAX_PROPERTY_KEY,
    MAX_PROPERTY_VALUE,
)
from azfunc_telemetry.testing import IngestionEmulator

log = logging.getLogger("app.input")
SERVICE_ITEM_LIMIT = 64 * 1024

pytestmark = pytest.mark.usefixtures("info_logging")


@pytest.fixture
def other_handlers_tolerate_bad_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest's own log capture re-raises formatting errors (to fail tests on bad log calls);
    a production handler such as the Functions worker's does not. Make it behave so."""
    monkeypatch.setattr(logging, "raiseExceptions", False)


@pytest.fixture
def emulator(emulator: IngestionEmulator, tmp_path: Path) -> IngestionEmulator:
    """The shared emulator, with telemetry set up to deliver to it quickly."""
    fast_setup(emulator.connection_string, tmp_path / "store")
    return emulator


class Unprintable:
    """An object whose ``__str__`` and ``__repr__`` both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class LogsWhenPrinted:
    """An object that logs while it is turned into text (on the export thread)."""

    def __init__(self) -> None:
        self.printed_on: list[str] = []

    def __str__(self) -> str:
        self.printed_on.append(threading.current_thread().name)
        logging.getLogger("app.input.inner").warning("logged while exporting")
        return "printed"


def delivered(emulator: IngestionEmulator) -> list[dict[str, Any]]:
    """Flush (asserting success: nothing rejected, nothing lost) and return what arrived."""
    assert azfunc_telemetry.flush(5.0)
    assert all(request.status == 200 for request in emulator.requests)
    return emulator.envelopes


def only(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(envelopes) == 1, envelopes
    return envelopes[0]


def test_message_over_the_service_limit_is_truncated_with_a_marker(
    emulator: IngestionEmulator,
) -> None:
    """A 100,000-character message arrives cut to the 32,768 limit, saying how much was cut."""
    log.info("x" * 100_000)
    message = base(only(delivered(emulator)))["message"]
    assert len(message) == MAX_MESSAGE
    kept = message.rstrip("]").split("...[truncated ")[0]
    assert kept == "x" * len(kept)
    assert message == f"{kept}...[truncated {100_000 - len(kept)} chars]"


def test_long_property_names_and_values_are_truncated_with_markers(
    emulator: IngestionEmulator,
) -> None:
    """Keys over 150 and values over 8,192 characters are cut, each with a visible marker."""
    log.info("wide", extra={"k" * 400: "short", "long_value": "v" * 20_000})
    properties = base(only(delivered(emulator)))["properties"]
    long_key = next(key for key in properties if key.startswith("kkk"))
    assert len(long_key) <= MAX_PROPERTY_KEY
    assert "[truncated" in long_key
    assert len(properties["long_value"]) <= MAX_PROPERTY_VALUE
    assert "[truncated" in properties["long_value"]


def test_too_many_properties_are_cut_with_a_count(emulator: IngestionEmulator) -> None:
    """More properties than the limit: the rest are dropped and their number is recorded."""
    dimensions = {f"dimension_{index:03d}": str(index) for index in range(300)}
    log.info("many", extra={"custom_dimensions": dimensions})
    properties = base(only(delivered(emulator)))["properties"]
    assert len(properties) <= MAX_PROPERTIES + 1
    assert int(properties["_truncated_properties"]) > 0


def test_item_over_64_kb_is_shrunk_until_the_service_accepts_it(
    emulator: IngestionEmulator,
) -> None:
    """Many long properties plus a long message: cut so the whole item fits in 64 kB."""
    dimensions = {f"{index:03d}_" + "n" * 140: "v" * 8000 for index in range(200)}
    log.info("m" * 40_000, extra={"custom_dimensions": dimensions})
    envelope = only(delivered(emulator))
    assert len(json.dumps(envelope)) <= SERVICE_ITEM_LIMIT
    assert "[truncated " in base(envelope)["message"]
    assert int(base(envelope)["properties"]["_truncated_properties"]) > 0


def test_non_ascii_text_is_measured_as_the_service_measures_it(
    emulator: IngestionEmulator,
) -> None:
    """A message of 30,000 emoji (12 bytes each once escaped) is still accepted."""
    log.info("\N{PILE OF POO}" * 30_000)
    message = base(only(delivered(emulator)))["message"]
    assert message.startswith("\N{PILE OF POO}" * 1000)
    assert "[truncated " in message


@pytest.mark.usefixtures("other_handlers_tolerate_bad_records")
def test_unprintable_objects_are_sent_with_placeholders(emulator: IngestionEmulator) -> None:
    """Objects whose __str__ and __repr__ raise: the records are sent, nothing raises."""
    log.info(Unprintable())
    log.info("argument %s here", Unprintable())
    log.info("in a dimension", extra={"broken": Unprintable()})
    envelopes = delivered(emulator)
    assert [base(e)["message"] for e in envelopes] == [
        "<unprintable Unprintable> [unformattable arguments: ]",
        "argument %s here [unformattable arguments: <unprintable Unprintable>]",
        "in a dimension",
    ]
    assert base(envelopes[2])["properties"]["broken"] == "<unprintable Unprintable>"


@pytest.mark.usefixtures("other_handlers_tolerate_bad_records")
def test_format_mismatch_is_sent_with_its_arguments(emulator: IngestionEmulator) -> None:
    """Too few or wrong arguments for the %-format: the template and the arguments arrive."""
    log.info("two %s %s", "one")
    log.info("number %d", "not a number")
    messages = [base(e)["message"] for e in delivered(emulator)]
    assert messages == [
        "two %s %s [unformattable arguments: one]",
        "number %d [unformattable arguments: not a number]",
    ]


def test_undecodable_bytes_and_lone_surrogates_do_not_cost_the_batch(
    emulator: IngestionEmulator,
) -> None:
    """Non-UTF-8 bytes and surrogate-escaped text are sent, and so is the rest of the batch."""
    undecodable = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    log.info("bytes %s", b"\xff\xfe\xfa")
    log.info("surrogates %s", undecodable)
    log.info("dimension", extra={"raw": b"\xff\xfe", "escaped": undecodable})
    log.info("ordinary")
    envelopes = delivered(emulator)
    assert [base(e)["message"] for e in envelopes] == [
        "bytes b'\\xff\\xfe\\xfa'",
        "surrogates caf? ?",
        "dimension",
        "ordinary",
    ]
    assert base(envelopes[2])["properties"]["raw"] == "\\xff\\xfe"
    assert base(envelopes[2])["properties"]["escaped"] == "caf? ?"
    assert azfunc_telemetry.stats().dropped == 0


def test_exception_logged_outside_an_except_block_is_a_plain_trace(
    emulator: IngestionEmulator,
) -> None:
    """logger.exception() with no exception being handled: sent as a trace, no "NoneType"."""
    log.exception("nothing to see")
    envelope = only(delivered(emulator))
    assert envelope["data"]["baseType"] == "MessageData"
    assert base(envelope)["message"] == "nothing to see"
    assert base(envelope)["severityLevel"] == 3


def test_exception_whose_str_raises_is_still_an_exceptions_item(
    emulator: IngestionEmulator,
) -> None:
    """An exception with a broken __str__ still becomes an exceptions item."""

    class BrokenError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    try:
        raise BrokenError()
    except BrokenError:
        log.exception("failed")
    envelope = only(delivered(emulator))
    assert envelope["data"]["baseType"] == "ExceptionData"
    assert base(envelope)["exceptions"][0]["typeName"].endswith("BrokenError")


def test_logging_from_inside_the_exporter_neither_recurses_nor_loses_the_record(
    emulator: IngestionEmulator,
) -> None:
    """A value that logs when printed (on the export thread): the record is sent once, and so
    is the record logged inside, without going round the queue again."""
    value = LogsWhenPrinted()
    log.info("outer", extra={"value": value})
    envelopes = delivered(emulator)
    assert sorted(base(e)["message"] for e in envelopes) == ["logged while exporting", "outer"]
    envelope = only([e for e in envelopes if base(e)["message"] == "outer"])
    assert base(envelope)["properties"]["value"] == "printed"
    assert value.printed_on == ["azfunc-telemetry-export"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("AZFUNC_TELEMETRY_QUEUE_SIZE", "lots"),
        ("AZFUNC_TELEMETRY_QUEUE_SIZE", "-5"),
        ("AZFUNC_TELEMETRY_REQUEST_TIMEOUT_S", "nan"),
        ("AZFUNC_TELEMETRY_EXIT_TIMEOUT_S", "0"),
        ("AZFUNC_TELEMETRY_GZIP", "maybe"),
        ("AZFUNC_TELEMETRY_TIMEOUT_WARNING_RATIO", "1.5"),
    ],
)
def test_invalid_numeric_setting_gives_one_message_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    setting: str,
    value: str,
) -> None:
    """A bad app setting: one warning naming the setting, the default is used, nothing raises."""
    with IngestionEmulator() as running:
        monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", running.connection_string)
        monkeypatch.setenv(setting, value)
        with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
            config = azfunc_telemetry.setup()
            azfunc_telemetry.setup()
        naming = [r.getMessage() for r in caplog.records if setting in r.getMessage()]
        assert len(naming) == 1
        assert value in naming[0]
        assert "default" in naming[0]
        assert config.export_enabled
        log.info("still works")
        assert azfunc_telemetry.flush(5.0)


@pytest.mark.parametrize(
    "connection_string",
    [
        "InstrumentationKey=not-a-guid",
        "IngestionEndpoint=https://example.invalid/",
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=ftp://x",
    ],
)
def test_invalid_connection_string_gives_one_message_naming_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, connection_string: str
) -> None:
    """A malformed connection string: one message naming the setting; export off, app runs."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", connection_string)
    with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
        config = azfunc_telemetry.setup()
        azfunc_telemetry.setup()
        log.info("the app keeps running")
    naming = [
        r.getMessage()
        for r in caplog.records
        if "APPLICATIONINSIGHTS_CONNECTION_STRING" in r.getMessage()
    ]
    assert len(naming) == 1
    assert "malformed" in naming[0]
    assert not config.export_enabled
    assert not azfunc_telemetry.flush(0.1)


def test_strict_setup_raises_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """strict=True turns a bad setting into a ValueError that names it."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=nope")
    with pytest.raises(ValueError, match="APPLICATIONINSIGHTS_CONNECTION_STRING"):
        azfunc_telemetry.setup(strict=True)


@pytest.mark.parametrize(
    ("argument", "value", "default"),
    [
        ("batch_size", "10", 512),
        ("batch_size", -5, 512),
        ("batch_size", True, 512),
        ("queue_size", 0, 180_000),
        ("request_timeout_s", 0, 5.0),
        ("export_interval_s", float("nan"), 0.02),
        ("max_attempts", 2.5, 3),
        ("gzip", "yes", True),
        ("timeout_warning_ratio", 1.5, 0.8),
        ("cloud_role", 5, None),
        ("sensitive_keys", 7, ()),
    ],
)
def test_invalid_setup_argument_gives_one_message_naming_it(
    caplog: pytest.LogCaptureFixture,
    argument: str,
    value: object,
    default: object,
) -> None:
    """A bad setup() argument is checked like its app setting: one warning naming the
    argument (not the app setting), the default is used, and records are still delivered."""
    with IngestionEmulator() as running:
        settings: dict[str, Any] = {"export_interval_s": 0.05, argument: value}
        with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
            config = azfunc_telemetry.setup(connection_string=running.connection_string, **settings)
            azfunc_telemetry.setup(connection_string=running.connection_string, **settings)
        ours = [r.getMessage() for r in caplog.records if r.name == "azfunc_telemetry"]
        assert len(ours) == 1, ours
        assert ours[0].startswith(f"setup() argument {argument} is invalid ")
        assert "AZFUNC_TELEMETRY_" not in ours[0]
        if default is not None:
            assert getattr(config, argument) == default
        log.info("still works")
        assert azfunc_telemetry.flush(5.0)
        assert [base(e)["message"] for e in running.envelopes] == ["still works"]


def test_strict_setup_raises_naming_a_bad_argument() -> None:
    """strict=True turns a bad argument into a ValueError that names the argument."""
    with IngestionEmulator() as running, pytest.raises(ValueError, match="argument batch_size"):
        azfunc_telemetry.setup(
            connection_string=running.connection_string, batch_size=0, strict=True
        )


@pytest.mark.parametrize("quote", ['"', "'", "\u201c"])
@pytest.mark.parametrize("source", ["argument", "app setting"])
def test_quoted_connection_string_is_accepted_with_one_notice(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, quote: str, source: str
) -> None:
    """A connection string pasted with its quotes works (they are stripped), and says so once,
    naming where it came from, without quoting the key."""
    closing = {"\u201c": "\u201d"}.get(quote, quote)
    with IngestionEmulator() as running:
        quoted = f"{quote}{running.connection_string}{closing}"
        arguments: dict[str, Any] = {"export_interval_s": 0.05}
        if source == "argument":
            arguments["connection_string"] = quoted
        else:
            monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", quoted)
        with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
            config = azfunc_telemetry.setup(**arguments)
            azfunc_telemetry.setup(**arguments)
        assert config.export_enabled
        ours = [r.getMessage() for r in caplog.records if r.name == "azfunc_telemetry"]
        assert len(ours) == 1, ours
        assert "quotes" in ours[0]
        expected_name = (
            "connection_string argument"
            if source == "argument"
            else "APPLICATIONINSIGHTS_CONNECTION_STRING"
        )
        assert ours[0].startswith(expected_name)
        assert running.ikey not in ours[0]
        log.info("delivered")
        assert azfunc_telemetry.flush(5.0)
        assert [base(e)["message"] for e in running.envelopes] == ["delivered"]


def test_setup_called_again_never_repeats_a_warning(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """setup() called twice with the same arguments, or again with other ones while the same
    setting is still bad, reports each problem once."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_QUEUE_SIZE", "lots")
    with IngestionEmulator() as running, caplog.at_level(logging.WARNING, "azfunc_telemetry"):
        for _ in range(2):
            azfunc_telemetry.setup(connection_string=running.connection_string, batch_size=-5)
        azfunc_telemetry.setup(
            connection_string=running.connection_string, batch_size=-5, gzip=False
        )
        azfunc_telemetry.setup(connection_string=running.connection_string)
    ours = sorted(r.getMessage() for r in caplog.records if r.name == "azfunc_telemetry")
    assert len(ours) == 2, ours
    assert ours[0].startswith("AZFUNC_TELEMETRY_QUEUE_SIZE is invalid")
    assert ours[1].startswith("setup() argument batch_size is invalid")


def test_quoted_legacy_instrumentation_key_is_accepted_with_one_notice(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APPINSIGHTS_INSTRUMENTATIONKEY pasted with quotes is read too, with the quote note and
    the legacy note, each once."""
    monkeypatch.setenv("APPINSIGHTS_INSTRUMENTATIONKEY", '"0123abcd-0000-4000-8000-00000000abcd"')
    with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
        config = azfunc_telemetry.setup(enabled=False)
        azfunc_telemetry.setup(enabled=False)
    assert config.connection is not None
    assert config.connection.instrumentation_key == "0123abcd-0000-4000-8000-00000000abcd"
    ours = [r.getMessage() for r in caplog.records if r.name == "azfunc_telemetry"]
    assert len(ours) == 2, ours
    assert any("quotes" in text for text in ours)
    assert any("legacy" in text for text in ours)
    assert all("0123abcd" not in text for text in ours)
