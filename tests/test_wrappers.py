"""Entry-point wrappers: the worker loads and calls every kind of entry point as if unwrapped.

The worker reads an entry point with ``inspect.signature``, ``typing.get_type_hints`` and
``inspect.iscoroutinefunction``, checks its parameter names against the function's bindings,
and calls it with keyword arguments, adding ``context`` when a parameter of that name is
declared. :func:`load_like_worker` does the same. The entry points are plain functions,
``functools.partial`` objects, callable objects (sync and ``async def __call__``), bound methods
and decorated functions; this module's annotations are strings (``from __future__ import
annotations``), so the wrapper must hand the worker resolvable ones.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

SENTINEL = object()
URL = "http://localhost/api/orders"


@pytest.fixture
def emulator(emulator: IngestionEmulator, info_logging: None) -> IngestionEmulator:
    """The shared emulator, with telemetry reporting to it."""
    azfunc_telemetry.setup(
        connection_string=emulator.connection_string,
        export_interval_s=0.05,
        invocation_telemetry="request",  # each invocation's item is its requests row
    )
    return emulator


class LoadedFunction(typing.NamedTuple):
    """What the worker keeps about an entry point after loading it."""

    function: Callable[..., Any]
    requires_context: bool
    is_async: bool
    hints: dict[str, Any]


def load_like_worker(function: Callable[..., Any], bindings: set[str]) -> LoadedFunction:
    """Load ``function`` the way the worker does, failing where the worker would refuse it.

    Its rules: every parameter but ``context`` is a binding and every binding a parameter;
    ``context``, when annotated, is annotated with a class named ``Context``; every annotation
    resolves to a type or a generic alias.
    """
    parameters = dict(inspect.signature(function).parameters)
    hints = typing.get_type_hints(function)
    requires_context = "context" in parameters and "context" not in bindings
    if requires_context:
        parameters.pop("context")
        if "context" in hints:
            assert isinstance(hints["context"], type)
            assert hints["context"].__name__ == "Context"
    assert set(parameters) == bindings, "parameter names must match the bindings"
    for name in parameters:
        if name in hints:
            hint = hints[name]
            assert isinstance(hint, type) or typing.get_origin(hint) is not None, hint
    return LoadedFunction(function, requires_context, inspect.iscoroutinefunction(function), hints)


def call_like_worker(loaded: LoadedFunction, context: FakeContext, **arguments: Any) -> Any:
    """Call a loaded entry point by keyword, on an event loop when it is async."""
    if loaded.requires_context:
        arguments["context"] = context
    if loaded.is_async:
        return asyncio.run(loaded.function(**arguments))
    result = loaded.function(**arguments)
    assert not inspect.isawaitable(result)
    return result


def http_request() -> func.HttpRequest:
    """A GET request for the functions under test."""
    return func.HttpRequest("GET", URL, body=b"")


# The kinds of entry point, each answering with a status that names it. A partial binds the
# leading arguments, the way apps share one function between entry points.


def orders(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """A plain function declaring ``context``."""
    assert context.invocation_id == _current_invocation_id()
    return func.HttpResponse(req.url, status_code=200)


def respond(status: int, req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """A function answering ``status``: a partial binds it."""
    assert context.invocation_id == _current_invocation_id()
    return func.HttpResponse(req.url, status_code=status)


def respond_labelled(label: str, status: int, req: func.HttpRequest) -> func.HttpResponse:
    """A function for a partial of a partial."""
    _current_invocation_id()
    return func.HttpResponse(f"{label} {req.url}", status_code=status)


async def respond_async(status: int, req: func.HttpRequest) -> func.HttpResponse:
    """A coroutine function without ``context``."""
    await asyncio.sleep(0)
    _current_invocation_id()
    return func.HttpResponse(req.url, status_code=status)


async def orders_async(req: func.HttpRequest) -> func.HttpResponse:
    """A coroutine function without ``context``."""
    return await respond_async(200, req)


class Handler:
    """A callable object with state, as some apps build their entry points."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __call__(self, req: func.HttpRequest) -> func.HttpResponse:
        _current_invocation_id()
        return func.HttpResponse(req.url, status_code=self.status)

    def handle(self, req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        _current_invocation_id()
        return func.HttpResponse(context.function_name, status_code=self.status)


class AsyncHandler:
    """A callable object whose ``__call__`` is a coroutine function."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def __call__(self, req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        await asyncio.sleep(0)
        assert context.invocation_id == _current_invocation_id()
        return func.HttpResponse(req.url, status_code=self.status)


def _current_invocation_id() -> str:
    current = azfunc_telemetry.current_invocation()
    assert current is not None, "the invocation must be current inside the function"
    return current.invocation_id


def _decorated() -> Callable[..., Any]:
    """A function under another decorator built with functools.wraps."""

    @functools.wraps(orders)
    def logged(*args: Any, **kwargs: Any) -> Any:
        return orders(*args, **kwargs)

    return logged


ENTRY_POINTS: dict[str, tuple[Callable[[], Callable[..., Any]], bool, int]] = {
    # name: (make the entry point, async, the status it answers)
    "function": (lambda: orders, False, 200),
    "coroutine function": (lambda: orders_async, True, 200),
    "partial": (lambda: functools.partial(respond, 201), False, 201),
    "partial of a coroutine function": (lambda: functools.partial(respond_async, 202), True, 202),
    "partial of a partial": (
        lambda: functools.partial(functools.partial(respond_labelled, "orders"), 203),
        False,
        203,
    ),
    "callable object": (lambda: Handler(204), False, 204),
    "async callable object": (lambda: AsyncHandler(205), True, 205),
    "partial of an async callable object": (
        lambda: functools.partial(AsyncHandler(206)),
        True,
        206,
    ),
    "bound method": (lambda: Handler(207).handle, False, 207),
    "decorated function": (_decorated, False, 200),
}


@pytest.mark.parametrize("kind", list(ENTRY_POINTS))
def test_the_worker_loads_and_calls_every_kind_of_entry_point(
    emulator: IngestionEmulator, kind: str
) -> None:
    """Each kind decorates, loads with resolvable hints, runs in its mode and is reported."""
    make, is_async, status = ENTRY_POINTS[kind]
    original = make()
    wrapped = azfunc_telemetry.instrument(original)
    loaded = load_like_worker(wrapped, {"req"})
    assert loaded.requires_context, "the wrapper always asks the worker for context"
    assert loaded.is_async is is_async
    assert loaded.hints["req"] is func.HttpRequest
    assert loaded.hints["return"] is func.HttpResponse
    context = FakeContext("orders")
    response = call_like_worker(loaded, context, req=http_request())
    assert response.status_code == status
    (row,) = of_type(emulator.wait_for(count_type("RequestData", 1), timeout=10), "RequestData")
    assert props(row)["invocation_id"] == context.invocation_id
    assert props(row)["execution_mode"] == ("async" if is_async else "sync")
    assert props(row)["trigger_type"] == "httpTrigger"
    assert base(row)["url"] == URL
    assert base(row)["responseCode"] == str(status)


def test_a_partial_advertises_only_its_unbound_parameters_and_its_function_name() -> None:
    """Bound arguments leave the worker-visible signature; the name is the function's."""
    wrapped: Any = azfunc_telemetry.instrument(functools.partial(respond, 201))
    assert list(inspect.signature(wrapped).parameters) == ["req", "context"]
    assert wrapped.__name__ == "respond"
    assert wrapped.__module__ == __name__
    assert wrapped.__doc__ == respond.__doc__
    by_keyword = functools.partial(respond_async, status=202)
    parameters = inspect.signature(azfunc_telemetry.instrument(by_keyword)).parameters
    assert list(parameters) == [*inspect.signature(by_keyword).parameters, "context"]
    assert parameters["status"].default == 202
    assert parameters["context"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_callable_object_keeps_its_state_to_itself() -> None:
    """The wrapper of a callable object is named after its class and does not copy its state."""
    handler = AsyncHandler(205)
    wrapped: Any = azfunc_telemetry.instrument(handler)
    assert wrapped.__name__ == "AsyncHandler"
    assert wrapped.__wrapped__ is handler
    assert not hasattr(wrapped, "status")
    assert list(inspect.signature(wrapped).parameters) == ["req", "context"]


def test_every_parameter_kind_is_passed_through(emulator: IngestionEmulator) -> None:
    """Positional-only, defaulted, *args, keyword-only and **kwargs arrive unchanged."""
    seen: list[tuple[Any, ...]] = []

    def shapes(  # type: ignore[no-untyped-def]
        first, /, second=SENTINEL, *rest, context, flag=False, **more
    ):
        seen.append((first, second, rest, context, flag, more, _current_invocation_id()))
        return "done"

    wrapped: Any = azfunc_telemetry.instrument(shapes)
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
    parameters = list(inspect.signature(wrapped).parameters)
    assert parameters == ["req", "context", "bindings"]
    context = FakeContext("plain")
    assert wrapped(req=http_request(), context=context, out="x").status_code == 202
    assert received == [{"out": "x"}]
    (row,) = of_type(emulator.wait_for(count_type("RequestData", 1), timeout=10), "RequestData")
    assert base(row)["responseCode"] == "202"
    assert base(row)["url"] == URL
    assert props(row)["invocation_id"] == context.invocation_id


def test_unannotated_arguments_are_looked_at_for_the_trigger(
    emulator: IngestionEmulator,
) -> None:
    """Without annotations the trigger and URL come from the values, positional or keyword."""

    def untyped(req, context):  # type: ignore[no-untyped-def]
        return func.HttpResponse("ok")

    wrapped: Any = azfunc_telemetry.instrument(untyped)
    wrapped(http_request(), FakeContext("untyped"))
    wrapped(req=http_request(), context=FakeContext("untyped"))
    rows = of_type(emulator.wait_for(count_type("RequestData", 2), timeout=10), "RequestData")
    assert [props(r)["trigger_type"] for r in rows] == ["httpTrigger", "httpTrigger"]
    assert [base(r)["url"] for r in rows] == [URL] * 2


@pytest.mark.parametrize("kind", ["coroutine function", "async callable object"])
def test_an_async_entry_point_reraises_and_reports_its_exception(
    emulator: IngestionEmulator, kind: str
) -> None:
    """An async entry point's exception is the same object re-raised, and reported failed."""
    error = LookupError("no such order")

    async def failing(context: func.Context) -> None:
        await asyncio.sleep(0)
        raise error

    class Failing:
        async def __call__(self, context: func.Context) -> None:
            await failing(context)

    wrapped = azfunc_telemetry.instrument(failing if kind == "coroutine function" else Failing())
    assert inspect.iscoroutinefunction(wrapped)
    with pytest.raises(LookupError) as raised:
        asyncio.run(wrapped(context=FakeContext("failing")))
    assert raised.value is error
    envelopes = emulator.wait_for(count_type("ExceptionData", 1), timeout=10)
    (row,) = of_type(envelopes, "RequestData")
    assert base(row)["success"] is False
    assert props(row)["execution_mode"] == "async"


def test_callables_that_cannot_be_entry_points_are_refused_at_decoration() -> None:
    """A generator ``__call__`` and a non-callable get one clear TypeError each."""

    class Numbers:
        def __call__(self, context: Any) -> Iterator[int]:
            yield 1

    with pytest.raises(TypeError, match=r"Numbers is a generator function"):
        azfunc_telemetry.instrument(Numbers())
    with pytest.raises(TypeError, match=r"expects a function, got int"):
        azfunc_telemetry.instrument(42)  # type: ignore[call-overload]


def test_a_callable_object_returning_an_awaitable_is_named_in_the_error() -> None:
    """A sync ``__call__`` returning a coroutine is refused with the class's name."""

    async def later() -> None:
        return None

    class Deferred:
        def __call__(self, context: Any) -> Any:
            return later()

    wrapped = azfunc_telemetry.instrument(functools.partial(Deferred()))
    with pytest.raises(TypeError, match=r"Deferred is a plain function that returned an awaitable"):
        wrapped(context=FakeContext("deferred"))
