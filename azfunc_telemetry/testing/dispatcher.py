"""A local dispatcher that runs functions the way the Azure Functions Python worker does.

Sync functions go to a ``ThreadPoolExecutor`` sized like the worker's pool (from
``PYTHON_THREADPOOL_THREAD_COUNT``), dispatched from the event loop with ``run_in_executor``,
so context variables are *not* copied, and ``context.thread_local_storage.invocation_id`` is set
around the call and cleared afterwards. Async functions run as tasks on one event loop thread,
which, like the worker's, is stamped with each invocation's id and never cleared. ``context`` is
passed only to functions that declare it.

It also plays the host's part in Application Insights: for each invocation it writes the
host's ``requests`` row (category ``Host.Results``, id = the host's span in the invocation's
``traceparent``, timed from the trigger to the result) through the ingestion endpoint the library
uses (see :class:`~azfunc_telemetry.testing.host.HostTelemetry`), so local telemetry has the
shape it has in Azure. Used by the tests, the demo and users' own integration tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func

from ..capture.ids import parse_traceparent
from ..invocation.hostjson import host_writes_requests, read_host_settings
from ..invocation.lifecycle import mark_dispatched
from .fakes import FakeContext
from .host import HostRequest, HostTelemetry, host_result_code

__all__ = ["LocalDispatcher"]


class LocalDispatcher:
    """Invoke functions concurrently, worker-style. Use as a context manager.

    Args:
        max_workers: the sync pool's size; defaults to ``PYTHON_THREADPOOL_THREAD_COUNT`` or
            CPython's default, as the worker does.
        host_requests: write the host's ``requests`` row per invocation (to a loopback
            endpoint only); by default only when the app's host.json (or its app setting
            override) leaves the host's ``Host.Results`` logging on, as the host does.
        connection_string: where those rows go; by default where the library sends its
            telemetry.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        host_requests: bool | None = None,
        connection_string: str | None = None,
    ) -> None:
        if host_requests is None:
            host_requests = host_writes_requests(read_host_settings())[0]
        self.host_telemetry = HostTelemetry(connection_string) if host_requests else None
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
        return asyncio.run_coroutine_threadsafe(self._host(function, context, bindings), self._loop)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until the host rows of finished invocations were sent; False on timeout."""
        return self.host_telemetry.flush(timeout_s) if self.host_telemetry else True

    async def _host(
        self, function: Callable[..., Any], context: Any, bindings: dict[str, Any]
    ) -> Any:
        """Run one invocation as the host does: time it from the trigger, write its row."""
        start_time = time.time()
        started_ns = time.perf_counter_ns()
        result: Any = None
        error: BaseException | None = None
        try:
            result = await self._dispatch(function, context, bindings)
            return result
        except BaseException as raised:
            error = raised
            raise
        finally:
            self._write_host_request(
                context, bindings, start_time, time.perf_counter_ns() - started_ns, result, error
            )

    def _write_host_request(
        self,
        context: Any,
        bindings: dict[str, Any],
        start_time: float,
        duration_ns: int,
        result: Any,
        error: BaseException | None,
    ) -> None:
        if self.host_telemetry is None:
            return
        trace_context = getattr(context, "trace_context", None)
        parent = parse_traceparent(getattr(trace_context, "trace_parent", None))
        if parent is None:
            return  # no host span to name the row after
        http = next((b for b in bindings.values() if isinstance(b, func.HttpRequest)), None)
        code = host_result_code(result, error, http is not None)
        self.host_telemetry.record(
            HostRequest(
                function_name=context.function_name,
                invocation_id=context.invocation_id,
                operation_id=parent[0],
                host_span_id=parent[1],
                start_time=start_time,
                duration_ns=duration_ns,
                success=error is None and not code.startswith("5"),
                result_code=code,
                url=http.url if http is not None else None,
            )
        )

    async def _dispatch(
        self, function: Callable[..., Any], context: Any, bindings: dict[str, Any]
    ) -> Any:
        arguments = dict(bindings)
        if "context" in inspect.signature(function).parameters:
            arguments["context"] = context
        storage = getattr(context, "thread_local_storage", None)
        if storage is not None:
            # The worker stamps its loop thread with every invocation and never clears it.
            storage.invocation_id = context.invocation_id
        if inspect.iscoroutinefunction(function):
            return await function(**arguments)
        mark_dispatched(context)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, _run_sync, function, storage, context.invocation_id, arguments
        )

    def close(self) -> None:
        """Stop the loop and the pool (waiting for running invocations), send the host rows."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._pool.shutdown(wait=True)
        self._loop.close()
        if self.host_telemetry is not None:
            self.host_telemetry.close()


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
