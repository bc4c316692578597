"""Configuration: explicit argument > app setting > default; bad input warns once, never crashes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import azfunc_telemetry
from azfunc_telemetry.config import resolve_config
from azfunc_telemetry.connection import parse_connection_string
from azfunc_telemetry.testing import FakeContext

GUID = "0123abcd-0000-4000-8000-00000000abcd"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "azfunc_telemetry" and r.levelno == logging.WARNING
    ]


@azfunc_telemetry.instrument
def greet(name: str, context: Any) -> str:
    logging.getLogger("tests.config").info("greeting %s", name)
    return f"hello {name}"


def test_missing_connection_string_warns_once_and_the_function_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No setting: export disabled, one clear warning, the function's result is untouched."""
    caplog.set_level(logging.WARNING, logger="azfunc_telemetry")
    assert greet(name="ada", context=FakeContext("greet")) == "hello ada"
    assert greet(name="bob", context=FakeContext("greet")) == "hello bob"
    warnings = _warnings(caplog)
    assert warnings == [
        "APPLICATIONINSIGHTS_CONNECTION_STRING is not set, so telemetry export is disabled; "
        "invocation tagging still works. Set it to the connection string of your Application "
        "Insights resource."
    ]
    assert azfunc_telemetry.flush(0.1) is False


def test_malformed_connection_string_names_the_setting_and_the_fault(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed value: one warning naming the setting and what is wrong; still no crash."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=not-a-guid")
    caplog.set_level(logging.WARNING, logger="azfunc_telemetry")
    assert greet(name="ada", context=FakeContext("greet")) == "hello ada"
    greet(name="again", context=FakeContext("greet"))
    (warning,) = _warnings(caplog)
    assert warning.startswith(
        "APPLICATIONINSIGHTS_CONNECTION_STRING is malformed (InstrumentationKey is not a GUID)"
    )
    assert "not-a-guid" not in warning


def test_strict_setup_raises_instead_of_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """strict=True turns a missing or malformed setting into ValueError."""
    with pytest.raises(ValueError, match="is not set"):
        azfunc_telemetry.setup(strict=True)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "garbage")
    with pytest.raises(ValueError, match="APPLICATIONINSIGHTS_CONNECTION_STRING is malformed"):
        azfunc_telemetry.setup(strict=True)


def test_legacy_instrumentation_key_works_with_a_note(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """APPINSIGHTS_INSTRUMENTATIONKEY alone still configures export, and says it is legacy."""
    monkeypatch.setenv("APPINSIGHTS_INSTRUMENTATIONKEY", GUID.upper())
    caplog.set_level(logging.WARNING, logger="azfunc_telemetry")
    config = azfunc_telemetry.setup()
    assert config.connection is not None
    assert config.connection.instrumentation_key == GUID
    assert config.connection_source == "APPINSIGHTS_INSTRUMENTATIONKEY"
    (warning,) = _warnings(caplog)
    assert "legacy" in warning
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in warning


def test_connection_string_beats_instrumentation_key_and_argument_beats_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Precedence: explicit argument, then the connection string setting, then the key."""
    other = GUID.replace("abcd", "eeee")
    monkeypatch.setenv("APPINSIGHTS_INSTRUMENTATIONKEY", other)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", f"InstrumentationKey={GUID}")
    assert resolve_config().connection_source == "APPLICATIONINSIGHTS_CONNECTION_STRING"
    explicit = resolve_config({"connection_string": f"InstrumentationKey={other}"})
    assert explicit.connection is not None
    assert explicit.connection.instrumentation_key == other


def test_numeric_settings_resolve_and_bad_ones_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """AZFUNC_TELEMETRY_* settings parse; a bad one is reported by name and the default kept."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_QUEUE_SIZE", "100")
    monkeypatch.setenv("AZFUNC_TELEMETRY_EXPORT_INTERVAL_S", "soon")
    monkeypatch.setenv("AZFUNC_TELEMETRY_TIMEOUT_WARNING_RATIO", "1.5")
    config = resolve_config({"batch_size": 7})
    assert config.queue_size == 100
    assert config.batch_size == 7
    assert config.export_interval_s == 0.02
    assert config.timeout_warning_ratio == 0.8
    problems = {p.setting: p.message for p in config.problems}
    assert problems["AZFUNC_TELEMETRY_EXPORT_INTERVAL_S"].startswith(
        "AZFUNC_TELEMETRY_EXPORT_INTERVAL_S is invalid"
    )
    assert "AZFUNC_TELEMETRY_TIMEOUT_WARNING_RATIO" in problems
    with pytest.raises(ValueError, match="AZFUNC_TELEMETRY_EXPORT_INTERVAL_S"):
        azfunc_telemetry.setup(connection_string=f"InstrumentationKey={GUID}", strict=True)


def test_unknown_option_is_a_programming_error() -> None:
    """A misspelt option fails at once instead of being ignored."""
    with pytest.raises(TypeError, match="queue_sise"):
        azfunc_telemetry.setup(queue_sise=10)  # type: ignore[call-arg]


def test_setup_is_idempotent() -> None:
    """Calling setup twice with the same arguments keeps the same pipeline and handler."""
    azfunc_telemetry.setup(connection_string=f"InstrumentationKey={GUID}")
    handlers = list(logging.getLogger().handlers)
    azfunc_telemetry.setup(connection_string=f"InstrumentationKey={GUID}")
    azfunc_telemetry.setup(connection_string=f"InstrumentationKey={GUID}")
    assert logging.getLogger().handlers == handlers
    ours = [h for h in handlers if isinstance(h, azfunc_telemetry.TelemetryHandler)]
    assert len(ours) == 1


def test_disabled_setting_turns_export_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """AZFUNC_TELEMETRY_DISABLED=true: nothing attached to the root logger."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_DISABLED", "true")
    config = azfunc_telemetry.setup(connection_string=f"InstrumentationKey={GUID}")
    assert not config.export_enabled
    assert not any(
        isinstance(h, azfunc_telemetry.TelemetryHandler) for h in logging.getLogger().handlers
    )


@pytest.mark.parametrize(
    ("value", "endpoint"),
    [
        (
            f"InstrumentationKey={GUID};IngestionEndpoint=https://x.in.ai.azure.com/;",
            "https://x.in.ai.azure.com",
        ),
        (f" instrumentationkey = {GUID} ; IngestionEndpoint=http://h/?a=b", "http://h/?a=b"),
        (
            f"InstrumentationKey={GUID};EndpointSuffix=ai.azure.cn;Location=chinaeast2",
            "https://chinaeast2.dc.ai.azure.cn",
        ),
        (f"InstrumentationKey={GUID}", "https://dc.services.visualstudio.com"),
    ],
)
def test_connection_strings_the_portal_produces_parse(value: str, endpoint: str) -> None:
    """Trailing ';', spaces, '=' in values and suffix-derived endpoints are all understood."""
    info = parse_connection_string(value)
    assert info.instrumentation_key == GUID
    assert info.ingestion_endpoint == endpoint


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("", "InstrumentationKey is missing"),
        ("IngestionEndpoint=https://x/", "InstrumentationKey is missing"),
        (f"InstrumentationKey={GUID};Authorization=AAD", "Authorization='AAD' is not supported"),
        (f"InstrumentationKey={GUID};IngestionEndpoint=ftp://x", "not an http(s) URL"),
        ("just-some-text", "is not of the form Name=value"),
    ],
)
def test_bad_connection_strings_say_what_is_wrong(value: str, fault: str) -> None:
    """Each fault gets its own message."""
    with pytest.raises(ValueError, match=fault.replace("(", r"\(").replace(")", r"\)")):
        parse_connection_string(value)
