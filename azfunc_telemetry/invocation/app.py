"""``instrument_app``: one call instruments every function of a v2 ``FunctionApp``."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from .middleware import instrument, is_instrumented, set_up_at_decoration

__all__ = ["instrument_app"]

A = TypeVar("A")
_PATCHED = "__azfunc_telemetry_app__"


def _instrument_builders(app: Any) -> int:
    count = 0
    for builder in getattr(app, "_function_builders", []):
        function = getattr(builder, "_function", None)
        user_function = getattr(function, "_func", None)
        if function is None or user_function is None or is_instrumented(user_function):
            continue
        name = function.get_function_name() if hasattr(function, "get_function_name") else None
        function._func = instrument(user_function, name=name)
        count += 1
    return count


def instrument_app(app: A) -> A:
    """Instrument every function registered on ``app`` (a ``FunctionApp`` or ``Blueprint``).

    Functions registered later, including through ``register_functions``/blueprints, are
    instrumented too: the app is instrumented again whenever the worker indexes it. Functions
    already wrapped with :func:`azfunc_telemetry.instrument` are left as they are. Telemetry
    is set up here (with app settings, unless ``setup()`` ran before), so what the app logs
    while it is still being imported is exported too.

    Returns:
        The same app, so ``app = instrument_app(func.FunctionApp())`` reads naturally.

    Raises:
        TypeError: when ``app`` is not an azure.functions app or blueprint.
    """
    if not hasattr(app, "_function_builders"):
        raise TypeError(
            f"instrument_app() expects an azure.functions FunctionApp or Blueprint, "
            f"got {type(app).__name__}"
        )
    set_up_at_decoration()
    _instrument_builders(app)
    get_functions = getattr(app, "get_functions", None)
    if callable(get_functions) and not getattr(app, _PATCHED, False):

        @functools.wraps(get_functions)
        def get_functions_instrumented(*args: Any, **kwargs: Any) -> Any:
            _instrument_builders(app)
            return get_functions(*args, **kwargs)

        app.get_functions = get_functions_instrumented  # type: ignore[attr-defined]
        setattr(app, _PATCHED, True)
    return app
