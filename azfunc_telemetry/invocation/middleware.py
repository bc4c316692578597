"""``@instrument``: the invocation middleware for sync and async entry points.

The worker reads an entry point with ``inspect.signature`` (its parameter names must match the
bindings), ``typing.get_type_hints`` (the annotations pick each argument's conversion) and
``inspect.iscoroutinefunction`` (thread pool or event loop), then calls it with keyword
arguments, passing ``context`` only to a function that declares it. There is one wrapper per
mode, an ``async def`` for coroutine functions and a ``def`` otherwise, built with
``functools.wraps``; its ``__signature__`` is the function's own, plus a ``context`` parameter
when the function has none, so the telemetry always has the invocation id and trace context
while the function receives only what it declared. Plain functions, ``functools.partial``
objects and callable objects (sync or ``async def __call__``) are all wrapped the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from ..diagnostics import logger
from .lifecycle import OpenInvocation, begin, end

if TYPE_CHECKING:
    import inspect

__all__ = ["instrument", "is_instrumented", "on_decoration", "set_up_at_decoration"]

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


def _innermost(func: Callable[..., Any]) -> Callable[..., Any]:
    """The callable a ``functools.partial`` (however nested) finally calls."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


def _code_owner(func: Callable[..., Any]) -> Any:
    """What holds the code that runs: the function, or a callable object's ``__call__``."""
    import inspect

    target = _innermost(func)
    if inspect.isroutine(target) or isinstance(target, type):
        return target
    return type(target).__call__


def _display_name(func: Callable[..., Any]) -> str:
    """A name for messages and ``__name__``: the function's, or the callable object's class."""
    target = _innermost(func)
    name = getattr(target, "__name__", None)
    if isinstance(name, str):
        return name
    return type(target).__name__


def _is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine the worker must await (it asks
    ``inspect.iscoroutinefunction`` of the wrapper, which must be ``async def`` then)."""
    import inspect

    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(_code_owner(func))


def _worker_annotations(func: Callable[..., Any], signature: inspect.Signature) -> dict[str, Any]:
    """The annotations the worker's ``typing.get_type_hints`` must find on the wrapper.

    A plain function's own ``__annotations__`` travel with ``functools.wraps``, and
    ``get_type_hints`` resolves them in the function's module (it follows ``__wrapped__``).
    A partial or a callable object has none of its own and no module to resolve names in, so
    the wrapper gets the signature's annotations, resolved here.
    """
    import inspect

    try:
        resolved = inspect.signature(func, eval_str=True)
    except Exception:  # a name only known to type checkers: keep what the signature says
        resolved = signature
    hints = {
        name: parameter.annotation
        for name, parameter in resolved.parameters.items()
        if parameter.annotation is not inspect.Parameter.empty
    }
    if resolved.return_annotation is not inspect.Signature.empty:
        hints["return"] = resolved.return_annotation
    return hints


def _wrap(func: F, name: str | None) -> F:
    import inspect  # at decoration, not at import: it is one of the heavier modules

    if is_instrumented(func):
        return func
    set_up_at_decoration()
    if not callable(func):
        raise TypeError(f"instrument() expects a function, got {type(func).__name__}")
    display_name = _display_name(func)
    owner = _code_owner(func)
    if inspect.isgeneratorfunction(owner) or inspect.isasyncgenfunction(owner):
        raise TypeError(
            f"{display_name} is a generator function; Azure Functions entry points must "
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
    context_index = positional_names.index("context") if "context" in positional_names else -1
    known_trigger, trigger_parameter = next(
        (
            (trigger, parameter.name)
            for parameter in signature.parameters.values()
            if (trigger := _trigger_from_annotation(parameter.annotation))
        ),
        (None, None),
    )
    default_name = name or display_name
    # An annotated HTTP request is read by name for its URL; only an unannotated function
    # needs a look at every argument.
    http_parameter = trigger_parameter if known_trigger == "httpTrigger" else None
    http_index = (
        positional_names.index(http_parameter) if http_parameter in positional_names else -1
    )
    scan_arguments = known_trigger is None

    def start(args: tuple[Any, ...], kwargs: dict[str, Any], mode: str) -> OpenInvocation | None:
        """Find the context (taking it out when the function does not declare it) and begin.

        The worker passes every argument by keyword, so the keyword lookups come first.
        """
        if declares_context:
            context = kwargs.get("context")
            if context is None and 0 <= context_index < len(args):
                context = args[context_index]
        else:
            context = kwargs.pop("context", None)
        try:
            if scan_arguments:
                trigger, url = _describe_call(args, kwargs, known_trigger)
            elif http_parameter is not None:
                request = kwargs.get(http_parameter)
                if request is None and 0 <= http_index < len(args):
                    request = args[http_index]
                found = getattr(request, "url", None)
                trigger, url = known_trigger, found if isinstance(found, str) else None
            else:
                trigger, url = known_trigger, None
            return begin(context, default_name, mode, trigger, url)
        except Exception:
            logger.exception("azfunc_telemetry could not start tracking an invocation")
            return None

    is_function = inspect.isfunction(func) or inspect.ismethod(func)
    # A callable object's attributes are its state, not a function's metadata: not copied.
    wraps = functools.wraps(func) if is_function else functools.wraps(func, updated=())
    if _is_async(func):
        coroutine_function = cast(Callable[..., Awaitable[Any]], func)

        @wraps
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

        @wraps
        def sync_entry(*args: Any, **kwargs: Any) -> Any:
            opened = start(args, kwargs, "sync")
            try:
                result = func(*args, **kwargs)
                if type(result) not in _PLAIN_RESULTS and _is_awaitable(result):
                    _reject_awaitable(display_name, result)
            except BaseException as error:
                if opened is not None:
                    _finish(opened, None, error)
                raise
            if opened is not None:
                _finish(opened, result, None)
            return result

        wrapper = sync_entry

    # What the worker reads: inspect.signature (the __signature__ wins over __wrapped__).
    wrapper.__signature__ = (  # type: ignore[attr-defined]
        signature if declares_context else _with_context_parameter(signature)
    )
    if not is_function:
        _describe_for_worker(wrapper, func, signature, display_name)
    setattr(wrapper, _MARK, True)
    return cast(F, wrapper)


#: What decorating sets up, handed down by the runtime when the package is imported.
_on_decoration: Callable[[], object] | None = None


def on_decoration(hook: Callable[[], object]) -> None:
    """Call ``hook`` whenever an entry point is decorated (the runtime's set-up)."""
    global _on_decoration
    _on_decoration = hook


def set_up_at_decoration() -> None:
    """Set telemetry up now, while the app is imported, not at its first invocation.

    Records the app logs at import time (after this point) are then exported too, and the
    SIGTERM flush goes in on the worker's main thread, where decoration runs (the first
    invocation's set-up may run on a pool thread). A failure is logged, never raised: decorating
    must not stop the app from loading.
    """
    hook = _on_decoration
    if hook is None:
        return
    try:
        hook()
    except Exception:
        logger.exception("azfunc_telemetry could not set up telemetry")


def _describe_for_worker(
    wrapper: Callable[..., Any],
    func: Callable[..., Any],
    signature: inspect.Signature,
    display_name: str,
) -> None:
    """Give the wrapper of a partial or a callable object what ``functools.wraps`` could not
    copy: annotations ``typing.get_type_hints`` resolves, and the name, module and docstring
    of the function the partial calls (or of the object's class), which the v2 decorators
    register the function under."""
    innermost = _innermost(func)
    wrapper.__annotations__ = _worker_annotations(func, signature)
    wrapper.__name__ = display_name
    wrapper.__qualname__ = getattr(innermost, "__qualname__", display_name)
    wrapper.__module__ = getattr(innermost, "__module__", wrapper.__module__)
    wrapper.__doc__ = getattr(innermost, "__doc__", None)


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


def _reject_awaitable(name: str, result: Any) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()
    raise TypeError(
        f"{name} is a plain function that returned an awaitable; the worker runs it on the "
        "thread pool and would never await it. Declare it `async def`."
    )
