"""Telemetry is set up while the app is imported, so its import-time records are exported."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from helpers import base, of_type, props

import azfunc_telemetry
from azfunc_telemetry import runtime
from azfunc_telemetry.testing import IngestionEmulator


@pytest.fixture
def app_settings(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch
) -> IngestionEmulator:
    """The emulator named by the app settings alone, as in a deployed app; nothing set up."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", emulator.connection_string)
    monkeypatch.setenv("AZFUNC_TELEMETRY_EXPORT_INTERVAL_S", "0.05")
    azfunc_telemetry.shutdown(0.5)
    assert runtime.get_runtime() is None
    return emulator


def import_app(source: str, name: str) -> dict[str, Any]:
    """Run an app module's source as the worker imports it."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(textwrap.dedent(source), f"{name}.py", "exec"), namespace)
    return namespace


def imported_message(emulator: IngestionEmulator, text: str) -> dict[str, Any]:
    """The one exported record whose message is ``text``."""
    assert azfunc_telemetry.flush(10)
    envelopes = emulator.wait_for(
        lambda es: any(base(e).get("message") == text for e in of_type(es, "MessageData")), 15
    )
    (record,) = [e for e in of_type(envelopes, "MessageData") if base(e)["message"] == text]
    return record


def test_instrument_app_sets_up_so_later_import_time_records_are_exported(
    app_settings: IngestionEmulator,
) -> None:
    """A v2 app logging at module level after instrument_app(app) has that record exported."""
    import_app(
        """
        import logging

        import azure.functions as func

        import azfunc_telemetry

        app = func.FunctionApp()


        @app.route(route="hello")
        def hello(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("hi")


        azfunc_telemetry.instrument_app(app)
        logging.getLogger("function_app").info("function_app imported")
        """,
        "function_app",
    )
    assert runtime.get_runtime() is not None
    record = imported_message(app_settings, "function_app imported")
    assert "invocation_id" not in props(record)  # logged outside any invocation


def test_the_first_instrument_decoration_sets_up(app_settings: IngestionEmulator) -> None:
    """A v1 module logging at import after its @instrument decoration has that record exported."""
    import_app(
        """
        import logging

        import azfunc_telemetry


        @azfunc_telemetry.instrument
        def main(req, context):
            return None


        logging.getLogger("HttpExample").warning("HttpExample loaded")
        """,
        "HttpExample",
    )
    record = imported_message(app_settings, "HttpExample loaded")
    assert props(record)["logger_name"] == "HttpExample"


def test_instrument_app_with_no_functions_yet_sets_up(app_settings: IngestionEmulator) -> None:
    """instrument_app on an app whose functions come later (blueprints) sets up all the same."""
    import azure.functions as func

    azfunc_telemetry.instrument_app(func.FunctionApp())
    assert runtime.get_runtime() is not None
