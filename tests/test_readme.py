"""The README's code runs as written, and its commands are the ones CI runs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_block(name: str) -> str:
    """The fenced block right after ``<!-- readme-test: name -->``."""
    match = re.search(
        rf"<!-- readme-test: {re.escape(name)} -->\n```python\n(.*?)```", README, re.DOTALL
    )
    assert match, f"README has no block marked {name}"
    return match.group(1)


def run_block(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(readme_block(name), f"README.md:{name}", "exec"), namespace)
    return namespace


@pytest.fixture
def emulator(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch
) -> IngestionEmulator:
    """The shared emulator, named by the app settings the README's code reads."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", emulator.connection_string)
    monkeypatch.setenv("AZFUNC_TELEMETRY_EXPORT_INTERVAL_S", "0.05")
    return emulator


def test_v1_quickstart_runs_and_reports(emulator: IngestionEmulator) -> None:
    """The v1 quickstart, driven by the app setting alone, sends its trace and request."""
    main = run_block("v1")["main"]
    context = FakeContext("HttpExample")
    request = func.HttpRequest(
        "GET", "http://localhost/api/HttpExample", params={"name": "ada"}, body=b""
    )
    assert main(req=request, context=context).get_body() == b"Hello, ada!"
    envelopes = emulator.wait_for(count_type("RemoteDependencyData", 1), timeout=10)
    envelopes = emulator.wait_for(count_type("MessageData", 1), timeout=10)
    (trace,) = of_type(envelopes, "MessageData")
    assert base(trace)["message"] == "greeting ada"
    assert props(trace)["customer"] == "ada"
    assert props(trace)["invocation_id"] == context.invocation_id


def test_v2_quickstart_instruments_every_function(emulator: IngestionEmulator) -> None:
    """The v2 quickstart's app: both functions indexed and reporting."""
    import asyncio

    app = run_block("v2")["app"]
    functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    assert set(functions) == {"hello", "worker"}
    functions["hello"](
        req=func.HttpRequest("GET", "http://h/api/hello", body=b""), context=FakeContext("hello")
    )
    asyncio.run(
        functions["worker"](msg=func.QueueMessage(body=b"7"), context=FakeContext("worker"))
    )
    envelopes = emulator.wait_for(count_type("RemoteDependencyData", 2), timeout=10)
    names = sorted(base(r)["name"] for r in of_type(envelopes, "RemoteDependencyData"))
    assert names == ["hello", "worker"]


def test_testing_example_passes(emulator: IngestionEmulator) -> None:
    """The README's unit-test example is itself a passing test."""
    run_block("testing")["test_main_reports_its_invocation_and_its_log"]()


def test_testing_example_passes_in_a_plain_test_process() -> None:
    """With the root logger at Python's default level (WARNING) and no app settings, as in a
    plain test process, the README's example still passes: it lets INFO through itself."""
    logging.getLogger().setLevel(logging.WARNING)
    run_block("testing")["test_main_reports_its_invocation_and_its_log"]()


def test_wait_for_telemetry_returns_only_the_type_asked_for() -> None:
    """The emulator helper the README shows returns only items of the requested type, even
    when other types arrived first."""
    with IngestionEmulator() as emulator:
        azfunc_telemetry.setup(connection_string=emulator.connection_string, export_interval_s=0.05)
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("readme").info("first a trace")
        assert azfunc_telemetry.flush(5.0)
        main = run_block("testing")["main"]
        main(func.HttpRequest("GET", "http://h/api/main", body=b""), context=FakeContext("main"))
        invocations = emulator.wait_for_telemetry("RemoteDependencyData")
        assert [r["data"]["baseType"] for r in invocations] == ["RemoteDependencyData"]
        traces = emulator.wait_for_telemetry("MessageData", count=2)
        assert {r["data"]["baseType"] for r in traces} == {"MessageData"}
        assert len(traces) == 2
        with pytest.raises(TimeoutError):
            emulator.wait_for_telemetry("ExceptionData", timeout=0.2)


def test_readme_commands_are_what_ci_runs() -> None:
    """The test command in the README is the command .ci/run executes."""
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", README)
    assert len(commands) == 2
    demo, tests = commands
    assert "azfunc-telemetry demo" in demo
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_readme_documents_every_setting_and_metric() -> None:
    """Each configuration option and metric name appears in the README."""
    from azfunc_telemetry.config import TelemetryConfig

    for option in TelemetryConfig._fields:
        if option in ("connection", "connection_source", "problems", "enabled"):
            continue
        assert f"`{option}`" in README or option in README, option
    for metric in (
        "azfunc_inflight_invocations",
        "azfunc_inflight_sync",
        "azfunc_pool_size",
        "azfunc_pool_utilization",
        "azfunc_invocations",
        "azfunc_pool_saturated_invocations",
    ):
        assert metric in README
    assert azfunc_telemetry.__version__


def test_configuration_table_lists_exactly_the_setup_arguments() -> None:
    """Every setup() argument has a row in the README's configuration table, and every row
    names a setup() argument: the table and the signature stay in sync."""
    import inspect

    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`(\w+)`", row.split(" | ", 1)[0])}
    parameters = set(inspect.signature(azfunc_telemetry.setup).parameters)
    assert documented == parameters
