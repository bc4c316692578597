"""Compiled entry-point wrappers: every parameter shape reaches the function as it was passed.

The middleware compiles a wrapper with the function's own parameters. These tests call such
wrappers with every kind of parameter (positional-only, defaults, ``*args``, keyword-only,
``**kwargs``), with and without a declared ``context``, and check that the function receives
exactly its arguments while the invocation is tracked; and that callables the compiler does not
take still get the generic wrapper.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any

import azure.functions as func
import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

SENTINEL = object()


@pytest.fixture
def emulator(emulator: IngestionEmulator, info_logging: None) -> IngestionEmulator:
    """The shared emulator, with telemetry reporting to it."""
    azfunc_telemetry.setup(
        connection_string=emulator.connection_string,
        export_interval_s=0.05,
        invocation_telemetry="request",  # each invocation's item is its requests row
    )
    return emulator


def is_compiled(wrapper: Any) -> bool:
    """Whether ``wrapper`` is a compiled one rather than the generic ``*args, **kwargs`` one."""
    return wrapper.__code__.co_filename.startswith("<azfunc_telemetry entry point")


def test_every_parameter_kind_is_passed_through(emulator: IngestionEmulator) -> None:
    """Positional-only, defaulted, *args, keyword-only and **kwargs arrive unchanged."""
    seen: list[tuple[Any, ...]] = []

    def shapes(  # type: ignore[no-untyped-def]
        first, /, second=SENTINEL, *rest, context, flag=False, **more
    ):
        current = azfunc_telemetry.current_invocation()
        assert current is not None
        seen.append((first, second, rest, context, flag, more, current.invocation_id))
        return "done"

    wrapped = azfunc_telemetry.instrument(shapes)
    assert is_compiled(wrapped)
    context = FakeContext("shapes")
    assert wrapped(1, 2, 3, 4, context=context, flag=True, extra="x") == "done"
    assert wrapped("a", context=context) == "done"
    assert seen[0] == (1, 2, (3, 4), context, True, {"extra": "x"}, context.invocation_id)
    assert seen[1] == ("a", SENTINEL, (), context, False, {}, context.invocation_id)
    with pytest.raises(TypeError):
        wrapped(first=1, context=context)  # still positional-only, as the original
    assert inspect.signature(wrapped) == inspect.signature(shapes)
    envelopes = emulator.wait_for(count_type("RequestData", 2), timeout=10)
    assert {props(r)["invocation_id"] for r in of_type(envelopes, "RequestData")} == {
        context.invocation_id
    }


def test_a_function_without_context_gets_it_and_never_sees_it(
    emulator: IngestionEmulator,
) -> None:
    """The wrapper takes ``context`` for the telemetry; **kwargs of the function stay clean."""
    received: list[dict[str, Any]] = []

    def plain(req: func.HttpRequest, **bindings: Any) -> func.HttpResponse:
        received.append(bindings)
        return func.HttpResponse("ok", status_code=202)

    wrapped = azfunc_telemetry.instrument(plain)
    assert is_compiled(wrapped)
    assert "context" in inspect.signature(wrapped).parameters
    context = FakeContext("plain")
    request = func.HttpRequest("GET", "http://localhost/api/plain", body=b"")
    assert wrapped(req=request, context=context, out="x").status_code == 202
    assert received == [{"out": "x"}]
    (row,) = of_type(emulator.wait_for(count_type("RequestData", 1), timeout=10), "RequestData")
    assert base(row)["responseCode"] == "202"
    assert base(row)["url"] == "http://localhost/api/plain"
    assert props(row)["invocation_id"] == context.invocation_id


def test_unannotated_arguments_are_looked_at_for_the_trigger(
    emulator: IngestionEmulator,
) -> None:
    """Without annotations the trigger and URL come from the values, positional or keyword."""

    def untyped(req, context):  # type: ignore[no-untyped-def]
        return func.HttpResponse("ok")

    wrapped = azfunc_telemetry.instrument(untyped)
    assert is_compiled(wrapped)
    request = func.HttpRequest("GET", "http://localhost/api/untyped", body=b"")
    wrapped(request, FakeContext("untyped"))
    wrapped(req=request, context=FakeContext("untyped"))
    rows = of_type(emulator.wait_for(count_type("RequestData", 2), timeout=10), "RequestData")
    assert [props(r)["trigger_type"] for r in rows] == ["httpTrigger", "httpTrigger"]
    assert [base(r)["url"] for r in rows] == ["http://localhost/api/untyped"] * 2


def test_async_compiled_wrapper_tracks_and_reraises(emulator: IngestionEmulator) -> None:
    """An async entry point stays a coroutine function; its exception is re-raised and reported."""

    async def failing(context: func.Context) -> None:
        await asyncio.sleep(0)
        raise LookupError("no such order")

    wrapped = azfunc_telemetry.instrument(failing)
    assert is_compiled(wrapped)
    assert inspect.iscoroutinefunction(wrapped)
    with pytest.raises(LookupError, match="no such order"):
        asyncio.run(wrapped(context=FakeContext("failing")))
    envelopes = emulator.wait_for(count_type("ExceptionData", 1), timeout=10)
    (row,) = of_type(envelopes, "RequestData")
    assert base(row)["success"] is False
    assert props(row)["execution_mode"] == "async"


@pytest.mark.parametrize(
    "kind", ["wrapped", "partial", "callable", "reserved name", "built-in name"]
)
def test_callables_the_compiler_does_not_take_get_the_generic_wrapper(
    emulator: IngestionEmulator, kind: str
) -> None:
    """Decorated functions, partials, callable objects and odd names still work, uncompiled."""

    def inner(req: Any, context: Any) -> str:
        return "ok"

    @functools.wraps(inner)
    def decorated(*args: Any, **kwargs: Any) -> str:
        return inner(*args, **kwargs)

    class Handler:
        def __call__(self, req: Any, context: Any) -> str:
            return "ok"

    def reserved(_azf_result: Any, context: Any) -> str:
        return "ok"

    def shadowing(getattr: Any, context: Any) -> str:
        return "ok"

    target: Any = {
        "wrapped": decorated,
        "partial": functools.partial(inner),
        "callable": Handler(),
        "reserved name": reserved,
        "built-in name": shadowing,
    }[kind]
    wrapped = azfunc_telemetry.instrument(target, name="generic")
    assert not is_compiled(wrapped)
    context = FakeContext("generic")
    assert wrapped(object(), context=context) == "ok"
    (row,) = of_type(emulator.wait_for(count_type("RequestData", 1), timeout=10), "RequestData")
    assert props(row)["invocation_id"] == context.invocation_id
