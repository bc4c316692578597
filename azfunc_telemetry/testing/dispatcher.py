"""A local dispatcher that runs functions the way the Azure Functions Python worker does.

Sync functions go to a ``ThreadPoolExecutor`` sized like the worker's pool (from
``PYTHON_THREADPOOL_THREAD_COUNT``), dispatched from the event loop with ``run_in_executor``,
so context variables are *not* copied, and ``context.thread_local_storage.invocation_id`` is set
around the call and cleared afterwards. Async functions run as tasks on one event loop thread.
``context`` is passed only to functions that declare it. Used by the tests, the demo and users'
own integration tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

from ..invocation import mark_dispatched
from .fakes import FakeContext

__all__ = ["LocalDispatcher"]


class LocalDispatcher:
    """Invoke functions concurrently, worker-style. Use as a context manager.

    Args:
        max_workers: the sync pool's size; defaults to ``PYTHON_THREADPOOL_THREAD_COUNT`` or
            CPython's default, as the worker does.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        size = max_workers or _pool_size()
        self.pool_size = size
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=size)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="local-dispatcher-loop", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> LocalDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def invoke(
        self, function: Callable[..., Any], context: Any = None, /, **bindings: Any
    ) -> concurrent.futures.Future[Any]:
        """Start one invocation; returns a future for the function's result.

        ``bindings`` are passed by keyword, as the worker binds them by parameter name; a
        ``context`` (a :class:`FakeContext` by default) is added when the function declares it.
        """
        context = (
            context if context is not None else FakeContext(getattr(function, "__name__", "f"))
        )
        return asyncio.run_coroutine_threadsafe(
            self._dispatch(function, context, bindings), self._loop
        )

    async def _dispatch(
        self, function: Callable[..., Any], context: Any, bindings: dict[str, Any]
    ) -> Any:
        arguments = dict(bindings)
        if "context" in inspect.signature(function).parameters:
            arguments["context"] = context
        storage = getattr(context, "thread_local_storage", None)
        if inspect.iscoroutinefunction(function):
            if storage is not None:
                # The worker stamps the loop thread and never clears it.
                storage.invocation_id = context.invocation_id
            return await function(**arguments)
        mark_dispatched(context)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, _run_sync, function, storage, context.invocation_id, arguments
        )

    def close(self) -> None:
        """Stop the loop and the pool (waiting for running invocations)."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._pool.shutdown(wait=True)
        self._loop.close()


def _run_sync(
    function: Callable[..., Any], storage: Any, invocation_id: str, arguments: dict[str, Any]
) -> Any:
    if storage is not None:
        storage.invocation_id = invocation_id
    try:
        return function(**arguments)
    finally:
        if storage is not None:
            storage.invocation_id = None


def _pool_size() -> int:
    raw = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(32, (os.cpu_count() or 1) + 4)
