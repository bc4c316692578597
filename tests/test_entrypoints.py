"""Wrapped entry points keep what the worker introspects; v2 apps are instrumented in one call."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

log = logging.getLogger("tests.entrypoints")


@pytest.fixture
def emulator(emulator: IngestionEmulator, info_logging: None) -> IngestionEmulator:
    """The shared emulator, with telemetry reporting to it."""
    azfunc_telemetry.setup(
        connection_string=emulator.connection_string,
        export_interval_s=0.05,
        invocation_telemetry="request",  # each invocation's item is its requests row
    )
    return emulator


def _worker_passes_context(function: Any) -> bool:
    """The worker's rule: a parameter named ``context``, unannotated or annotated ``Context``."""
    parameter = inspect.signature(function).parameters.get("context")
    if parameter is None:
        return False
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        return True
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(name).rsplit(".", 1)[-1] == "Context"


def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(f"{context.function_name}:{req.method}")


def without_context(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.method)


async def async_with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(context.function_name)


async def async_without_context(req, msg: func.Out[str]):  # type: ignore[no-untyped-def]
    msg.set("queued")
    return func.HttpResponse("ok")


def untyped(req, context):  # type: ignore[no-untyped-def]
    return func.HttpResponse("untyped")


CASES = [with_context, without_context, async_with_context, async_without_context, untyped]


@pytest.mark.parametrize("original", CASES, ids=lambda f: f.__name__)
def test_signature_hints_and_sync_async_survive_wrapping(original: Any) -> None:
    """signature, get_type_hints and iscoroutinefunction give the worker what it needs."""
    wrapped = azfunc_telemetry.instrument(original)
    before = inspect.signature(original).parameters
    after = inspect.signature(wrapped).parameters
    for name, parameter in before.items():
        assert after[name] == parameter
    assert _worker_passes_context(wrapped)
    assert inspect.iscoroutinefunction(wrapped) is inspect.iscoroutinefunction(original)
    assert typing.get_type_hints(wrapped) == typing.get_type_hints(original)
    assert wrapped.__name__ == original.__name__
    assert wrapped.__wrapped__ is original


def _call_like_worker(function: Any, **bindings: Any) -> Any:
    arguments = dict(bindings)
    if not _worker_passes_context(function):
        arguments.pop("context", None)
    result = function(**arguments)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


@pytest.mark.parametrize("original", CASES, ids=lambda f: f.__name__)
def test_functions_receive_only_what_they_declare_and_report_full_telemetry(
    emulator: IngestionEmulator, original: Any
) -> None:
    """The worker passes context to every wrapper; the user function sees only its own params."""
    wrapped = azfunc_telemetry.instrument(original)
    context = FakeContext(original.__name__)
    bindings: dict[str, Any] = {"req": func.HttpRequest("POST", "http://h/api", body=b"")}
    if "msg" in inspect.signature(original).parameters:
        bindings["msg"] = Out()
    response = _call_like_worker(wrapped, context=context, **bindings)
    assert response.status_code == 200
    envelopes = emulator.wait_for(count_type("RequestData", 1), timeout=10)
    (request,) = of_type(envelopes, "RequestData")
    assert props(request)["invocation_id"] == context.invocation_id
    assert props(request)["trigger_type"] == "httpTrigger"
    if "msg" in bindings:
        assert bindings["msg"].value == "queued"


class Out(func.Out[str]):
    """A concrete ``func.Out`` like the worker's."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value or ""


def test_generator_entry_points_are_rejected_with_a_clear_error() -> None:
    """Generators cannot be entry points; the error says what to do instead."""

    def numbers(context: Any) -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"generator function.*return that"):
        azfunc_telemetry.instrument(numbers)


def test_plain_function_returning_an_awaitable_is_rejected_at_call() -> None:
    """A def that returns a coroutine would never be awaited by the worker: clear TypeError."""

    async def work() -> int:
        return 1

    @azfunc_telemetry.instrument
    def sneaky(context: Any) -> Any:
        return work()

    with pytest.raises(TypeError, match="Declare it `async def`"):
        sneaky(context=FakeContext("sneaky"))


def test_an_awaitable_is_rejected_even_after_plain_results() -> None:
    """Results already seen to be plain do not hide a later coroutine or custom awaitable."""

    class Later:
        def __await__(self) -> Iterator[None]:
            yield None

    async def work() -> int:
        return 1

    results: list[Any] = [1, "ok", None, work(), Later()]

    @azfunc_telemetry.instrument
    def varying(context: Any) -> Any:
        return results.pop(0)

    assert [varying(context=FakeContext("varying")) for _ in range(3)] == [1, "ok", None]
    for _ in range(2):
        with pytest.raises(TypeError, match="Declare it `async def`"):
            varying(context=FakeContext("varying"))


def test_instrument_with_options_and_instrumenting_twice() -> None:
    """@instrument(name=...) works; instrumenting an instrumented function is a no-op."""

    @azfunc_telemetry.instrument(name="renamed")
    def original(context: Any) -> str:
        current = azfunc_telemetry.current_invocation()
        assert current is not None
        return current.function_name

    assert azfunc_telemetry.instrument(original) is original
    assert original(context=object()) == "renamed"
    assert azfunc_telemetry.current_invocation() is None


def _build_v2_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="hello")
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        log.info("hello from v2", extra={"route": "hello"})
        return func.HttpResponse("hi")

    @app.function_name("queue_worker")
    @app.queue_trigger(arg_name="msg", queue_name="jobs", connection="AzureWebJobsStorage")
    async def queue_worker(msg: func.QueueMessage, context: func.Context) -> None:
        log.info("job %s", msg.get_body().decode())

    blueprint = func.Blueprint()  # type: ignore[no-untyped-call]

    @blueprint.route(route="later")
    def later(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("later")

    app.register_functions(blueprint)
    return app


def test_instrument_app_indexes_and_runs_every_function_with_telemetry(
    emulator: IngestionEmulator,
) -> None:
    """A v2 FunctionApp built with the real decorators: indexed as before, run with telemetry."""
    app = azfunc_telemetry.instrument_app(_build_v2_app())
    functions = {f.get_function_name(): f for f in app.get_functions()}
    assert set(functions) == {"hello", "queue_worker", "later"}
    for function in functions.values():
        user = function.get_user_function()
        assert getattr(user, "__azfunc_telemetry_instrumented__", False)
        assert _worker_passes_context(user)
        bindings = json.loads(function.get_function_json())["bindings"]
        declared = {b["name"] for b in bindings}
        assert set(inspect.signature(user).parameters) - {"context"} <= declared
    assert inspect.iscoroutinefunction(functions["queue_worker"].get_user_function())

    request = func.HttpRequest("GET", "http://h/api/hello", body=b"")
    _call_like_worker(
        functions["hello"].get_user_function(), req=request, context=FakeContext("hello")
    )
    message = func.QueueMessage(body=b"42")
    _call_like_worker(
        functions["queue_worker"].get_user_function(),
        msg=message,
        context=FakeContext("queue_worker"),
    )
    envelopes = emulator.wait_for(count_type("RequestData", 2), timeout=10)
    requests = {base(r)["name"]: props(r) for r in of_type(envelopes, "RequestData")}
    assert requests["hello"]["trigger_type"] == "httpTrigger"
    assert requests["queue_worker"]["trigger_type"] == "queueTrigger"
    assert requests["queue_worker"]["execution_mode"] == "async"
    envelopes = emulator.wait_for(count_type("MessageData", 2), timeout=10)
    traces = {base(t)["message"]: props(t) for t in of_type(envelopes, "MessageData")}
    assert traces["hello from v2"]["function_name"] == "hello"
    assert traces["job 42"]["function_name"] == "queue_worker"


def test_instrument_app_rejects_things_that_are_not_apps() -> None:
    """A clear TypeError instead of silently doing nothing."""
    with pytest.raises(TypeError, match="FunctionApp or Blueprint"):
        azfunc_telemetry.instrument_app(object())


def test_timeout_warning_is_logged_before_the_host_would_stop_the_invocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation past the configured share of functionTimeout gets one tagged warning."""
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "functionTimeout": "00:00:02"})
    )
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    with IngestionEmulator() as emu:
        azfunc_telemetry.setup(
            connection_string=emu.connection_string,
            export_interval_s=0.05,
            timeout_warning_ratio=0.1,
        )
        release = threading.Event()
        context = FakeContext("slowpoke")

        @azfunc_telemetry.instrument
        def slowpoke(context: Any) -> None:
            release.wait(10)

        worker = threading.Thread(target=slowpoke, kwargs={"context": context})
        worker.start()
        try:
            envelopes = emu.wait_for(
                lambda es: any("function timeout" in base(e).get("message", "") for e in es),
                timeout=10,
            )
        finally:
            release.set()
            worker.join()
    (warning,) = [e for e in envelopes if "function timeout" in base(e).get("message", "")]
    assert props(warning)["invocation_id"] == context.invocation_id
    assert props(warning)["level"] == "WARNING"
    assert "(2 s, from host.json)" in base(warning)["message"]
