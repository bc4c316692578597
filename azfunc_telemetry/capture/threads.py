"""Carrying the invocation into the user's own threads and executors.

``threading.Thread`` and ``ThreadPoolExecutor`` start their work with an empty ``contextvars``
context, so records logged there lose the invocation. These helpers copy the caller's context
into the thread and, while the work runs, also stamp the worker's own mechanisms
(``context.thread_local_storage.invocation_id`` and, on the 3.13+ runtime libraries, their
``invocation_id_cv``) so the Functions host keeps those records in its own log stream too.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from .context import current_invocation, worker_storages

__all__ = ["InvocationExecutor", "wrap_in_invocation"]

P = ParamSpec("P")
R = TypeVar("R")
_MISSING = object()
#: The 3.13+ runtime libraries, one for ``function_app.py`` apps and one for ``function.json``
#: apps. Each keeps the running invocation in its own ``invocation_id_cv``, which the worker
#: reads first when it forwards a record to the host; a record from a thread whose variable
#: is unset reaches the host without an invocation and is dropped there.
_RUNTIME_MODULES = ("azure_functions_runtime", "azure_functions_runtime_v1")


def _stamp_worker(invocation_id: str) -> Callable[[], None]:
    """Set the worker's thread-local id (and the runtime's variable); return the undo."""
    undo: list[Callable[[], None]] = []
    for storage in worker_storages():
        previous = getattr(storage, "invocation_id", _MISSING)
        storage.invocation_id = invocation_id

        def restore(storage: Any = storage, previous: object = previous) -> None:
            if previous is _MISSING:
                storage.__dict__.pop("invocation_id", None)
            else:
                storage.invocation_id = previous

        undo.append(restore)
    for name in _RUNTIME_MODULES:
        runtime = sys.modules.get(name)
        variable = getattr(runtime, "invocation_id_cv", None) if runtime else None
        if variable is None:
            continue
        try:
            token = variable.set(invocation_id)
        except Exception:  # pragma: no cover - a runtime that changed its variable's type
            continue
        undo.append(functools.partial(variable.reset, token))

    def undo_all() -> None:
        for step in reversed(undo):
            step()

    return undo_all


def wrap_in_invocation(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to the invocation running now, wherever it is later called.

    Use it for ``threading.Thread(target=wrap_in_invocation(work))``, ``loop.run_in_executor``
    or any callback handed to another thread. The context is captured at wrap time; each call
    runs in its own copy of it, so the wrapped callable may run in several threads at once.
    Outside an invocation it still carries the caller's context variables.
    """
    captured = contextvars.copy_context()
    invocation = current_invocation()
    invocation_id = invocation.invocation_id if invocation is not None else None

    def stamped(*args: P.args, **kwargs: P.kwargs) -> R:
        # Runs inside the copied context, so the runtime's variable is set where fn runs.
        undo = _stamp_worker(invocation_id) if invocation_id is not None else None
        try:
            return fn(*args, **kwargs)
        finally:
            if undo is not None:
                undo()

    @functools.wraps(fn)
    def run_in_captured_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(stamped, *args, **kwargs)

    return run_in_captured_context


class InvocationExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the invocation that submitted them.

    A drop-in replacement: ``with InvocationExecutor(max_workers=8) as pool: pool.map(...)``.
    Each ``submit`` (and so ``map``) captures the submitter's context, so one executor can be
    shared across concurrent invocations and every task still logs under its own invocation.
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Schedule ``fn`` like ``ThreadPoolExecutor.submit``, inside the caller's invocation."""
        return super().submit(wrap_in_invocation(fn), *args, **kwargs)
