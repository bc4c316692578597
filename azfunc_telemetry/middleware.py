"""``@instrument``: the invocation middleware for sync and async entry points.

The worker binds arguments by parameter name and annotation, passes ``context`` only to a
function that declares it, and decides between the thread pool and the event loop with
``inspect.iscoroutinefunction``. The wrapper keeps all of that intact, and advertises a
``context`` parameter when the user's function has none, so the telemetry always has the
invocation id and trace context while the user's function receives only what it declared.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .diagnostics import logger
from .invocation import OpenInvocation, begin, end
from .runtime import ensure_setup
from .signals import install_sigterm_flush

if TYPE_CHECKING:
    import inspect

__all__ = ["instrument", "is_instrumented", "set_up_at_decoration"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__azfunc_telemetry_instrumented__"

_TRIGGERS = {
    "HttpRequest": "httpTrigger",
    "QueueMessage": "queueTrigger",
    "TimerRequest": "timerTrigger",
    "ServiceBusMessage": "serviceBusTrigger",
    "EventHubEvent": "eventHubTrigger",
    "EventGridEvent": "eventGridTrigger",
    "InputStream": "blobTrigger",
    "DocumentList": "cosmosDBTrigger",
    "SqlRowList": "sqlTrigger",
}


def is_instrumented(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is already wrapped by :func:`instrument`."""
    return bool(getattr(func, _MARK, False))


@overload
def instrument(func: F, /, *, name: str | None = None) -> F: ...


@overload
def instrument(*, name: str | None = None) -> Callable[[F], F]: ...


def instrument(func: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Instrument an Azure Functions entry point (``def`` or ``async def``).

    Use it bare (``@instrument``) or with options (``@instrument(name="orders")``); for the v2
    model put it *below* ``@app.route(...)`` and the other trigger decorators, or use
    :func:`azfunc_telemetry.instrument_app` once for the whole app.

    Decorating runs ``setup()`` (with app settings) if nothing set telemetry up yet, so records
    logged while the app is still being imported are exported. Each call makes the invocation
    current for the call (in the function's own thread or task, reset afterwards), counts it in
    the concurrency tracker, and queues the invocation's item (a dependency under the host's
    request, or a ``requests`` row; see ``invocation_telemetry``) and an ``exceptions`` item
    when it raises (the very same exception is re-raised).

    Args:
        func: the entry point.
        name: the function name to report when the ``Context`` does not give one.

    Raises:
        TypeError: for generator functions, which the worker cannot run as entry points.
    """
    install_sigterm_flush()  # decoration runs on the worker's main thread; setup may not
    if func is None:
        return lambda f: _wrap(f, name)
    return _wrap(func, name)


def _trigger_from_annotation(annotation: object) -> str | None:
    label = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return _TRIGGERS.get(str(label).rsplit(".", 1)[-1])


def _describe_call(
    args: tuple[Any, ...], kwargs: dict[str, Any], known: str | None
) -> tuple[str | None, str | None]:
    """The trigger type and, for HTTP, the request URL, from the bound arguments."""
    for value in args:
        kind = _TRIGGERS.get(type(value).__name__)
        if kind is not None:
            return _described(value, kind, known)
    for value in kwargs.values():
        kind = _TRIGGERS.get(type(value).__name__)
        if kind is not None:
            return _described(value, kind, known)
    return known, None


def _described(value: Any, kind: str, known: str | None) -> tuple[str | None, str | None]:
    """The trigger and URL once ``value`` was found to be a trigger payload of ``kind``."""
    url = None
    if kind == "httpTrigger":
        candidate = getattr(value, "url", None)
        url = candidate if isinstance(candidate, str) else None
    return known or kind, url


def _with_context_parameter(signature: inspect.Signature) -> inspect.Signature:
    import inspect

    parameters = list(signature.parameters.values())
    extra = inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, default=None)
    if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
        parameters.insert(len(parameters) - 1, extra)
    else:
        parameters.append(extra)
    return signature.replace(parameters=parameters)


def _wrap(func: F, name: str | None) -> F:
    import inspect  # at decoration, not at import: it is one of the heavier modules

    if is_instrumented(func):
        return func
    set_up_at_decoration()
    from .exact_wrapper import exact_wrapper

    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"{func.__qualname__} is a generator function; Azure Functions entry points must "
            "return a value, so azfunc_telemetry cannot instrument it. Collect the items into "
            "a list and return that."
        )
    signature = inspect.signature(func)
    declares_context = "context" in signature.parameters
    positional_names = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    context_index = positional_names.index("context") if "context" in positional_names else None
    known_trigger, trigger_parameter = next(
        (
            (trigger, parameter.name)
            for parameter in signature.parameters.values()
            if (trigger := _trigger_from_annotation(parameter.annotation))
        ),
        (None, None),
    )
    default_name = name or func.__name__
    # An annotated HTTP request is read by name for its URL; only an unannotated function
    # needs a look at every argument.
    http_parameter = trigger_parameter if known_trigger == "httpTrigger" else None
    http_index = (
        positional_names.index(http_parameter) if http_parameter in positional_names else -1
    )
    scan_arguments = known_trigger is None

    is_async = inspect.iscoroutinefunction(func)
    exact = exact_wrapper(
        func,
        signature,
        mode="async" if is_async else "sync",
        helpers={
            "begin": begin,
            "finish": _finish,
            "log": logger,
            "name": default_name,
            "trigger": known_trigger,
            "describe": _describe_call,
            "plain": _PLAIN_RESULTS,
            "is_awaitable": _is_awaitable,
            "reject": _reject_awaitable,
        },
        add_context=not declares_context,
        http_parameter=http_parameter,
        scan_arguments=scan_arguments,
    )
    if exact is not None:
        exact = functools.update_wrapper(exact, func)
        return cast(F, _finish_wrapper(exact, signature, declares_context))

    def describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
        """The trigger type and the HTTP request's URL for one call."""
        if scan_arguments:
            return _describe_call(args, kwargs, known_trigger)
        if http_parameter is not None:
            request = kwargs.get(http_parameter)
            if request is None and 0 <= http_index < len(args):
                request = args[http_index]
            url = getattr(request, "url", None)
            return known_trigger, url if isinstance(url, str) else None
        return known_trigger, None

    def start(args: tuple[Any, ...], kwargs: dict[str, Any], mode: str) -> OpenInvocation | None:
        """Find the context (taking it out when the function does not declare it) and begin."""
        if declares_context:
            context = kwargs.get("context")
            if context is None and context_index is not None and len(args) > context_index:
                context = args[context_index]
        else:
            context = kwargs.pop("context", None)
        try:
            trigger, url = describe(args, kwargs)
            return begin(context, default_name, mode, trigger, url)
        except Exception:
            logger.exception("azfunc_telemetry could not start tracking an invocation")
            return None

    # The generic wrappers, for callables exact_wrapper() does not take.
    if is_async:
        coroutine_function = cast(Callable[..., Awaitable[Any]], func)

        @functools.wraps(func)
        async def async_entry(*args: Any, **kwargs: Any) -> Any:
            opened = start(args, kwargs, "async")
            try:
                result = await coroutine_function(*args, **kwargs)
            except BaseException as error:
                if opened is not None:
                    _finish(opened, None, error)
                raise
            if opened is not None:
                _finish(opened, result, None)
            return result

        wrapper: Callable[..., Any] = async_entry
    else:

        @functools.wraps(func)
        def sync_entry(*args: Any, **kwargs: Any) -> Any:
            opened = start(args, kwargs, "sync")
            try:
                result = func(*args, **kwargs)
                if type(result) not in _PLAIN_RESULTS and _is_awaitable(result):
                    _reject_awaitable(func, result)
            except BaseException as error:
                if opened is not None:
                    _finish(opened, None, error)
                raise
            if opened is not None:
                _finish(opened, result, None)
            return result

        wrapper = sync_entry

    return cast(F, _finish_wrapper(wrapper, signature, declares_context))


def set_up_at_decoration() -> None:
    """Set telemetry up now, while the app is imported, not at its first invocation.

    Records the app logs at import time (after this point) are then exported too. A failure is
    logged, never raised: decorating must not stop the app from loading.
    """
    try:
        ensure_setup()
    except Exception:
        logger.exception("azfunc_telemetry could not set up telemetry")


def _finish_wrapper(
    wrapper: Callable[..., Any], signature: inspect.Signature, declares_context: bool
) -> Callable[..., Any]:
    """Advertise the ``context`` parameter the worker must pass, and mark the wrapper."""
    if not declares_context:
        wrapper.__signature__ = _with_context_parameter(signature)  # type: ignore[attr-defined]
    setattr(wrapper, _MARK, True)
    return wrapper


def _finish(opened: OpenInvocation, result: Any, error: BaseException | None) -> None:
    """End the invocation's tracking; a failure here is logged, never raised into the app."""
    try:
        end(opened, result, error)
    except Exception:
        logger.exception("azfunc_telemetry could not finish tracking an invocation")


#: Result types seen not to be awaitable; the ``Awaitable`` check is an ABC lookup, which is
#: slow enough to matter on every call. Bounded: a function returns few distinct types.
_PLAIN_RESULTS: set[type] = {type(None)}
_PLAIN_RESULTS_MAX = 256


def _is_awaitable(result: Any) -> bool:
    if isinstance(result, Awaitable):
        return True
    if len(_PLAIN_RESULTS) < _PLAIN_RESULTS_MAX:
        _PLAIN_RESULTS.add(type(result))
    return False


def _reject_awaitable(func: Callable[..., Any], result: Any) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()
    raise TypeError(
        f"{func.__qualname__} is a plain function that returned an awaitable; the worker runs "
        "it on the thread pool and would never await it. Declare it `async def`."
    )
