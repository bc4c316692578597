"""The v2 app: ``instrument_app`` instruments every decorated function in ``function_app.py``."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from bindings import OutputBinding

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

V2_APP = Path(__file__).resolve().parents[1] / "v2_app" / "function_app.py"


@pytest.fixture(scope="module")
def function_app() -> ModuleType:
    """``v2_app/function_app.py``, loaded as the worker loads it (by path, as a module)."""
    spec = importlib.util.spec_from_file_location("v2_function_app", V2_APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def functions(function_app: ModuleType) -> dict[str, Callable[..., Any]]:
    """The app's functions by name, indexed once as the worker indexes them."""
    return {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}


def test_every_function_is_indexed_and_instrumented(
    functions: dict[str, Callable[..., Any]],
) -> None:
    """The worker finds the three functions, each already wrapped by the library."""
    from azfunc_telemetry.invocation.middleware import is_instrumented

    assert set(functions) == {"hello", "quote", "process_order"}
    assert all(is_instrumented(function) for function in functions.values())


def test_hello_greets(functions: dict[str, Callable[..., Any]]) -> None:
    """The sync HTTP function answers like any v1 function would."""
    req = func.HttpRequest(method="GET", body=b"", url="/api/hello", params={"name": "Test"})

    resp = functions["hello"](req=req, context=FakeContext("hello"))

    assert resp.get_body() == b"Hello, Test!"


def test_each_function_reports_its_invocation(
    emulator: IngestionEmulator, functions: dict[str, Callable[..., Any]]
) -> None:
    """Sync, async and queue functions each produce an invocation item and tagged traces."""
    contexts = {name: FakeContext(name) for name in functions}
    functions["hello"](
        req=func.HttpRequest(method="GET", body=b"", url="/api/hello"), context=contexts["hello"]
    )
    resp = asyncio.run(
        functions["quote"](
            req=func.HttpRequest(method="GET", body=b"", url="/api/quote"),
            context=contexts["quote"],
        )
    )
    assert json.loads(resp.get_body())["price"] == 12.5
    processed: OutputBinding[str] = OutputBinding()
    functions["process_order"](
        order=func.QueueMessage(body=b'{"id": "o-1"}'),
        processed=processed,
        context=contexts["process_order"],
    )
    assert json.loads(processed.get()) == {"order_id": "o-1", "status": "accepted"}

    assert azfunc_telemetry.flush(10.0)
    requests = {
        envelope["data"]["baseData"]["name"]: envelope["data"]["baseData"]
        for envelope in emulator.telemetry("RemoteDependencyData")
        if envelope["data"]["baseData"]["type"] == "InProc"
    }
    assert set(requests) == {"hello", "quote", "process_order"}
    assert requests["quote"]["properties"]["execution_mode"] == "async"
    traces = emulator.telemetry("MessageData")
    tagged = {e["data"]["baseData"]["properties"]["function_name"] for e in traces}
    assert tagged == {"hello", "quote", "process_order"}
    for envelope in traces:
        properties = envelope["data"]["baseData"]["properties"]
        assert properties["invocation_id"] == contexts[properties["function_name"]].invocation_id
    (dependency,) = [
        envelope
        for envelope in emulator.telemetry("RemoteDependencyData")
        if envelope["data"]["baseData"]["type"] != "InProc"
    ]
    assert dependency["data"]["baseData"]["name"] == "GET /prices/sku-1001"
