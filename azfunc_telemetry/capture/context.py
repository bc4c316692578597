"""The invocation context: which invocation is running here, and how its telemetry joins up.

One ``ContextVar`` is the source of truth. The wrapper sets it inside the function's own thread
(sync) or task (async) and resets it in ``finally``; asyncio child tasks and ``asyncio.to_thread``
inherit it. The worker's own convention, ``context.thread_local_storage.invocation_id`` set in a
user thread, is honoured as a fallback through a registry of invocations that are still running,
so a pool thread that outlives its invocation never lends that invocation's id to later records.
The fallback is not used on a thread running an event loop: the worker stamps every invocation's
id on its loop thread and never clears it, so there the stamp says nothing about the code
logging; the loop's invocations are found through the context variable of their tasks.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from typing import Any

from ..model.invocation import InvocationContext

__all__ = [
    "InvocationContext",
    "activate",
    "current_invocation",
    "deactivate",
    "lookup_invocation",
    "remember_worker_storage",
    "reset_current",
    "running_invocations",
    "set_current",
    "worker_storages",
]


_CURRENT: contextvars.ContextVar[InvocationContext | None] = contextvars.ContextVar(
    "azfunc_telemetry_invocation", default=None
)
#: Invocations running now, by invocation id, with their ``perf_counter_ns`` start. Plain dict
#: operations are atomic under the GIL, which is all the hot path needs.
_ACTIVE: dict[str, tuple[int, InvocationContext]] = {}
#: The worker's ``threading.local`` objects seen on ``context.thread_local_storage``.
_WORKER_STORAGES: list[Any] = []
_STORAGE_LOCK = threading.Lock()
#: The 3.13+ runtime libraries (``function_app.py`` apps, ``function.json`` apps).
_RUNTIME_MODULES = ("azure_functions_runtime", "azure_functions_runtime_v1")
#: The runtime variables :func:`activate` set and their tokens, by invocation id.
_RUNTIME_STAMPS: dict[str, list[tuple[Any, Any]]] = {}

_MODULES = sys.modules


def current_invocation() -> InvocationContext | None:
    """The invocation running in this thread or task, or ``None`` outside any invocation."""
    return lookup_invocation()


def activate(
    context: InvocationContext, started_ns: int = 0
) -> contextvars.Token[InvocationContext | None]:
    """Make ``context`` current here and register it as running; pair with :func:`deactivate`.

    Under a 3.13+ runtime library, its ``invocation_id_cv`` is set here too when the runtime
    has not set it (it does for sync functions only): asyncio tasks, ``asyncio.to_thread`` and
    ``run_in_executor`` of an async function then carry the invocation to the worker, which
    reads that variable when it forwards their records to the host.
    """
    _ACTIVE[context.invocation_id] = (started_ns, context)
    if "azure_functions_runtime" in _MODULES or "azure_functions_runtime_v1" in _MODULES:
        _stamp_runtime_variable(context.invocation_id)
    return _CURRENT.set(context)


def deactivate(
    context: InvocationContext, token: contextvars.Token[InvocationContext | None]
) -> None:
    """Undo :func:`activate`: the invocation is over, its id must not tag anything else."""
    _ACTIVE.pop(context.invocation_id, None)
    if _RUNTIME_STAMPS:
        _unstamp_runtime_variable(context.invocation_id)
    try:
        _CURRENT.reset(token)
    except ValueError:
        # The token belongs to another Context (the call finished in a different task than it
        # started in); clearing is the closest correct state.
        _CURRENT.set(None)


def _stamp_runtime_variable(invocation_id: str) -> None:
    """Set each loaded runtime library's ``invocation_id_cv`` that does not hold the id yet."""
    stamps = []
    for name in _RUNTIME_MODULES:
        module = _MODULES.get(name)
        variable = getattr(module, "invocation_id_cv", None) if module is not None else None
        if variable is None:
            continue
        try:
            if variable.get(None) != invocation_id:
                stamps.append((variable, variable.set(invocation_id)))
        except Exception:  # pragma: no cover - a runtime that changed its variable's type
            continue
    if stamps:
        _RUNTIME_STAMPS[invocation_id] = stamps


def _unstamp_runtime_variable(invocation_id: str) -> None:
    for variable, token in reversed(_RUNTIME_STAMPS.pop(invocation_id, ())):
        try:
            variable.reset(token)
        except ValueError:
            variable.set(None)  # set in another task's context: clear it here
        except Exception:  # pragma: no cover - a runtime that changed its variable's type
            pass


def running_invocations() -> list[tuple[int, InvocationContext]]:
    """``(perf_counter_ns at start, context)`` of every invocation running now."""
    return list(_ACTIVE.values())


def set_current(context: InvocationContext | None) -> contextvars.Token[InvocationContext | None]:
    """Replace the current context without touching the registry (used by spans)."""
    return _CURRENT.set(context)


def reset_current(token: contextvars.Token[InvocationContext | None]) -> None:
    """Restore what :func:`set_current` replaced."""
    try:
        _CURRENT.reset(token)
    except ValueError:
        _CURRENT.set(None)


def remember_worker_storage(storage: Any) -> None:
    """Note the worker's ``thread_local_storage`` so user threads that set it are recognised."""
    if storage is None:
        return
    for known in _WORKER_STORAGES:
        if known is storage:
            return
    with _STORAGE_LOCK:
        if not any(known is storage for known in _WORKER_STORAGES):
            _WORKER_STORAGES.append(storage)


def worker_storages() -> tuple[Any, ...]:
    """The worker ``threading.local`` objects seen so far."""
    return tuple(_WORKER_STORAGES)


def _runtime_invocation_id() -> str | None:
    """The invocation id the 3.13+ runtime keeps in its own context variable, if loaded."""
    runtime = sys.modules.get("azure_functions_runtime") or sys.modules.get(
        "azure_functions_runtime_v1"
    )
    variable = getattr(runtime, "invocation_id_cv", None) if runtime else None
    if variable is None:
        return None
    try:
        value = variable.get(None)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _runs_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop (no asyncio import needed)."""
    events = sys.modules.get("asyncio.events")
    if events is None:
        return False
    try:
        return events._get_running_loop() is not None
    except Exception:
        return False


def lookup_invocation() -> InvocationContext | None:
    """Find the invocation for a record emitted here, cheapest source first.

    The context variable answers for the invocation's own thread and tasks and for threads
    started with our helpers. Otherwise a still-running invocation whose id the user stamped
    on the worker's thread-local storage (or that the 3.13+ runtime keeps) is used, except on
    an event loop's thread, where the worker's stale stamp would name whichever invocation it
    dispatched last.
    """
    context = _CURRENT.get()
    if context is not None or not _ACTIVE:
        return context
    if _WORKER_STORAGES and not _runs_event_loop():
        found = _stamped_invocation()
        if found is not None:
            return found
    runtime_id = _runtime_invocation_id()
    running = _ACTIVE.get(runtime_id) if runtime_id else None
    return running[1] if running is not None else None


def _stamped_invocation() -> InvocationContext | None:
    """The running invocation whose id is on the worker's thread-local storage here."""
    for storage in _WORKER_STORAGES:
        invocation_id = getattr(storage, "invocation_id", None)
        if invocation_id:
            found = _ACTIVE.get(invocation_id)
            if found is not None:
                return found[1]
    return None
