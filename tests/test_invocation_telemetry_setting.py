"""``invocation_telemetry``: resolved like every setting; ``auto`` follows the host's config."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import azfunc_telemetry
from azfunc_telemetry.config import resolve_config
from azfunc_telemetry.invocation.hostjson import decide_invocation_telemetry, read_host_settings

SETTING = "AZFUNC_TELEMETRY_INVOCATION_TELEMETRY"
OVERRIDE = "AzureFunctionsJobHost__logging__logLevel__Host.Results"


def host_json(tmp_path: Path, log_levels: dict[str, str] | None) -> str:
    """Write a host.json with these ``logging.logLevel`` entries; returns its path."""
    document: dict[str, Any] = {"version": "2.0"}
    if log_levels is not None:
        document["logging"] = {"logLevel": log_levels}
    path = tmp_path / "host.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_default_is_auto_and_the_app_setting_is_read() -> None:
    """Unset it is ``auto``; the app setting is read case-insensitively."""
    assert resolve_config(environ={}).invocation_telemetry == "auto"
    assert resolve_config(environ={SETTING: " Request "}).invocation_telemetry == "request"
    config = resolve_config({"invocation_telemetry": "dependency"}, environ={SETTING: "request"})
    assert config.invocation_telemetry == "dependency"


def test_a_bad_app_setting_is_named_with_the_choices() -> None:
    """An unknown value is reported naming the setting and the valid choices; auto is used."""
    config = resolve_config(environ={SETTING: "requests"})
    assert config.invocation_telemetry == "auto"
    (problem,) = [p for p in config.problems if p.setting == SETTING]
    assert problem.message == (
        f"{SETTING} is invalid ('requests': not one of the choices); expected auto, request or "
        "dependency; the default (auto) is used."
    )


def test_a_bad_argument_is_named_and_strict_setup_raises() -> None:
    """A bad explicit value is reported once (auto is used); with strict=True setup raises."""
    config = resolve_config({"invocation_telemetry": "span"}, environ={})
    assert config.invocation_telemetry == "auto"
    (problem,) = [p for p in config.problems if p.setting == "invocation_telemetry"]
    assert problem.message.startswith("setup() argument invocation_telemetry is invalid ('span'")
    assert "expected auto, request or dependency" in problem.message
    config = resolve_config({"invocation_telemetry": 3}, environ={})
    assert config.invocation_telemetry == "auto"
    with pytest.raises(ValueError, match="argument invocation_telemetry is invalid"):
        azfunc_telemetry.setup(
            exporter=azfunc_telemetry.InMemoryExporter(),
            invocation_telemetry="x",  # type: ignore[arg-type]
            strict=True,
        )


@pytest.mark.parametrize(
    ("log_levels", "environ", "expected"),
    [
        (None, {}, "dependency"),
        ({"default": "Information", "Function": "None"}, {}, "dependency"),
        ({"Host.Results": "None"}, {}, "request"),
        ({"host.results": "none"}, {}, "request"),
        ({"Host": "None"}, {}, "request"),
        ({"default": "None"}, {}, "request"),
        ({"default": "None", "Host.Results": "Information"}, {}, "dependency"),
        ({"Host.Results": "Information"}, {OVERRIDE: "None"}, "request"),
        ({"Host.Results": "None"}, {OVERRIDE: "Information"}, "dependency"),
        (None, {OVERRIDE.lower(): "None"}, "request"),
        (None, {"AzureFunctionsJobHost__logging__logLevel__Host.Aggregator": "None"}, "dependency"),
    ],
)
def test_auto_follows_the_hosts_host_results_level(
    tmp_path: Path, log_levels: dict[str, str] | None, environ: dict[str, str], expected: str
) -> None:
    """``auto`` is ``request`` exactly when the host's Host.Results level resolves to None."""
    settings = read_host_settings(host_json(tmp_path, log_levels))
    assert decide_invocation_telemetry("auto", settings, environ)[0] == expected


def test_an_explicit_choice_is_kept_whatever_the_host_does(tmp_path: Path) -> None:
    """``request`` and ``dependency`` are used as given."""
    settings = read_host_settings(host_json(tmp_path, {"Host.Results": "None"}))
    assert decide_invocation_telemetry("dependency", settings, {}) == (
        "dependency",
        "set explicitly",
    )
    assert decide_invocation_telemetry("request", settings, {})[0] == "request"


def test_setup_logs_the_choice_once_at_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """setup() decides once and says what it chose and why, at debug level only."""
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    host_json(tmp_path, {"default": "Information"})
    with caplog.at_level(logging.DEBUG, logger="azfunc_telemetry"):
        azfunc_telemetry.setup(exporter=azfunc_telemetry.InMemoryExporter())
    choices = [r for r in caplog.records if "reported as" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in choices] == [
        (
            logging.DEBUG,
            'invocations are reported as dependency items: "Host.Results" logs at '
            "Information (host.json)",
        )
    ]
