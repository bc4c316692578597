"""Entry-point wrappers with the user function's own parameter list, compiled at decoration.

The worker calls an entry point with keyword arguments (``main(req=..., context=...)``). A
``*args, **kwargs`` wrapper turns them into a dict, looks the context and the request up in it,
and unpacks the dict again to call the function: over a microsecond of every invocation, more
than any other single part of the middleware. A wrapper whose parameters are the function's own
receives the arguments as plain local names and passes them straight on, so the interpreter binds
them once. It is written as source text from ``inspect.signature`` and compiled once per
function, the way :mod:`dataclasses` writes ``__init__``.

Only plain functions whose signature is their own get one (:func:`exact_wrapper` returns
``None`` otherwise, and the middleware falls back to its generic wrapper).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exact_wrapper"]

#: Prefix of every name the generated code uses besides the function's own parameters.
_PREFIX = "_azf_"
#: Built-in names the generated code uses; a parameter of the same name would shadow them.
_BUILTINS_USED = frozenset({"BaseException", "Exception", "getattr", "isinstance", "type"})

_SYNC_CALL = """\
            _azf_result = _azf_func({call})
            if type(_azf_result) not in _azf_plain and _azf_is_awaitable(_azf_result):
                _azf_reject(_azf_func, _azf_result)"""
_ASYNC_CALL = """\
            _azf_result = await _azf_func({call})"""

_TEMPLATE = """\
def _azf_make({namespace}):
    {kind} {name}({parameters}):
        try:
            {describe}_azf_opened = _azf_begin(context, _azf_name, {mode!r}, {description})
        except Exception:
            _azf_log.exception("azfunc_telemetry could not start tracking an invocation")
            _azf_opened = None
        try:
{call}
        except BaseException as _azf_error:
            if _azf_opened is not None:
                _azf_finish(_azf_opened, None, _azf_error)
            raise
        if _azf_opened is not None:
            _azf_finish(_azf_opened, _azf_result, None)
        return _azf_result
    return {name}
"""


def _has_own_signature(func: Callable[..., Any]) -> bool:
    """A plain function whose parameters are what ``inspect.signature`` reports."""
    return (
        inspect.isfunction(func)
        and not hasattr(func, "__wrapped__")
        and "__signature__" not in func.__dict__
    )


def exact_wrapper(
    func: Callable[..., Any],
    signature: inspect.Signature,
    *,
    mode: str,
    helpers: Mapping[str, Any],
    add_context: bool,
    http_parameter: str | None,
    scan_arguments: bool,
) -> Callable[..., Any] | None:
    """Compile a wrapper for ``func`` with ``signature``'s parameters, or ``None`` if unsuitable.

    Args:
        func: the entry point.
        signature: its signature.
        mode: ``"sync"`` or ``"async"`` (the wrapper is a coroutine function for async).
        helpers: the objects the generated code calls, by their names without the prefix:
            ``begin``, ``finish``, ``log``, ``name``, ``trigger``, ``describe``,
            ``plain``, ``is_awaitable``, ``reject``.
        add_context: give the wrapper a keyword-only ``context`` parameter the function does
            not declare (it is not passed on).
        http_parameter: the parameter holding the ``HttpRequest``, whose URL is reported.
        scan_arguments: no trigger is known from the annotations: ``describe`` looks at the
            argument values on each call.
    """
    if not _has_own_signature(func):
        return None
    parameters = list(signature.parameters.values())
    if any(
        p.name.startswith(_PREFIX) or p.name in _BUILTINS_USED or not p.name.isidentifier()
        for p in parameters
    ):
        return None
    namespace: dict[str, Any] = {_PREFIX + key: value for key, value in helpers.items()}
    namespace[_PREFIX + "func"] = func
    declared, call, values = _parameter_source(parameters, add_context, namespace)
    describe = ""
    if scan_arguments:
        # No annotation names the trigger: describe() looks at the values, as the generic
        # wrapper does, and gives the trigger and the URL.
        describe = f"_azf_found = _azf_describe({values}, {{}}, None)\n            "
        description = "_azf_found[0], _azf_found[1]"
    elif http_parameter is not None:
        description = (
            f'_azf_trigger, (_azf_url if isinstance(_azf_url := getattr({http_parameter}, "url", '
            "None), str) else None)"
        )
    else:
        description = "_azf_trigger, None"
    source = _TEMPLATE.format(
        namespace=", ".join(namespace),
        kind="async def" if mode == "async" else "def",
        name=func.__name__ if func.__name__.isidentifier() else "entry_point",
        parameters=", ".join(declared),
        mode=mode,
        describe=describe,
        description=description,
        call=(_ASYNC_CALL if mode == "async" else _SYNC_CALL).format(call=", ".join(call)),
    )
    try:
        code = compile(source, f"<azfunc_telemetry entry point {func.__qualname__}>", "exec")
    except SyntaxError:  # a signature this module does not know how to write: be generic
        return None
    scope: dict[str, Any] = {}
    exec(code, {"__builtins__": __builtins__}, scope)
    wrapper: Callable[..., Any] = scope["_azf_make"](**namespace)
    return wrapper


def _parameter_source(
    parameters: list[inspect.Parameter], add_context: bool, namespace: dict[str, Any]
) -> tuple[list[str], list[str], str]:
    """The wrapper's parameter list, the call's argument list, and every value as a tuple.

    Defaults are the function's own objects, reached through ``namespace``.
    """
    kind = inspect.Parameter
    declared: list[str] = []
    call: list[str] = []
    values: list[str] = []
    seen_positional_only = False
    star_written = False
    for index, parameter in enumerate(parameters):
        if parameter.kind is kind.POSITIONAL_ONLY:
            seen_positional_only = True
        elif seen_positional_only:
            declared.append("/")
            seen_positional_only = False
        if parameter.kind is kind.KEYWORD_ONLY and not star_written:
            declared.append("*")
            star_written = True
        if add_context and parameter.kind is kind.VAR_KEYWORD:
            if not star_written:
                declared.append("*")
                star_written = True
            declared.append("context=None")
            add_context = False
        text = parameter.name
        if parameter.default is not kind.empty:
            default = f"{_PREFIX}default_{index}"
            namespace[default] = parameter.default
            text = f"{text}={default}"
        if parameter.kind is kind.VAR_POSITIONAL:
            declared.append(f"*{parameter.name}")
            star_written = True
            call.append(f"*{parameter.name}")
            values.append(f"*{parameter.name}")
        elif parameter.kind is kind.VAR_KEYWORD:
            declared.append(f"**{parameter.name}")
            call.append(f"**{parameter.name}")
            values.append(f"*{parameter.name}.values()")
        elif parameter.kind is kind.KEYWORD_ONLY:
            declared.append(text)
            call.append(f"{parameter.name}={parameter.name}")
            values.append(parameter.name)
        else:
            declared.append(text)
            call.append(parameter.name)
            values.append(parameter.name)
    if seen_positional_only:
        declared.append("/")
    if add_context:
        if not star_written:
            declared.append("*")
        declared.append("context=None")
    return declared, call, "(" + ", ".join(values) + ("," if len(values) == 1 else "") + ")"
