"""What the benchmarks run: a realistic log call, invocation inputs, and the opencensus setups.

The log call is what a function app typically writes: a formatted message with two arguments
and three custom dimensions. opencensus gets the same dimensions the way its docs ask for them,
under ``custom_dimensions``. The opencensus pieces are the real ``AzureLogHandler``,
``AzureExporter`` and ``Tracer``, pointed at the loopback emulator with statsbeat and local
storage off, so nothing leaves the machine.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import azure.functions as func

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext

__all__ = [
    "APP_LOGGER",
    "EXTRA",
    "MESSAGE",
    "OPENCENSUS_EXTRA",
    "RECORDS_PER_INVOCATION",
    "NoOpHandler",
    "OpenCensusInvocation",
    "disable_statsbeat",
    "http_request",
    "http_response",
    "invocation_contexts",
    "logging_invocation",
    "opencensus_exporter",
    "opencensus_log_handler",
    "root_handlers",
]

APP_LOGGER = logging.getLogger("bench.orders")
MESSAGE = "order %s processed in %d ms"
EXTRA: dict[str, Any] = {"customer_id": "c-1042", "items": 3, "region": "westeurope"}
OPENCENSUS_EXTRA: dict[str, Any] = {"custom_dimensions": EXTRA}
#: Log records each invocation of :func:`logging_invocation` writes.
RECORDS_PER_INVOCATION = 10


class NoOpHandler(logging.Handler):
    """A standard handler that drops every record: the floor any logging integration pays."""

    def emit(self, record: logging.LogRecord) -> None:
        """Drop the record."""


def disable_statsbeat() -> None:
    """Keep opencensus from sending its own usage telemetry to Azure (set before first use)."""
    os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"


@contextmanager
def root_handlers(*handlers: logging.Handler) -> Iterator[None]:
    """Make ``handlers`` the root logger's only handlers for the block, at level INFO."""
    root = logging.getLogger()
    saved, saved_level = list(root.handlers), root.level
    root.handlers[:] = list(handlers)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.handlers[:] = saved
        root.setLevel(saved_level)


def http_request() -> func.HttpRequest:
    """The HTTP trigger input every benchmarked invocation receives."""
    return func.HttpRequest(
        method="POST",
        url="http://localhost:7071/api/orders?customer=c-1042",
        headers={"content-type": "application/json"},
        body=b'{"order": "A-77"}',
    )


def http_response() -> func.HttpResponse:
    """The response every benchmarked invocation returns (built once, outside the timing)."""
    return func.HttpResponse("ok", status_code=200)


def invocation_contexts(count: int, function_name: str = "orders") -> list[FakeContext]:
    """``count`` distinct contexts, as the host gives each invocation its own."""
    return [FakeContext(function_name) for _ in range(count)]


def logging_invocation(function_name: str) -> Callable[[FakeContext], None]:
    """An ``@instrument``-ed function that logs :data:`RECORDS_PER_INVOCATION` records a call.

    The children that run invocations in a tight loop call it: a call does nothing but log, so
    what they measure is the library's cost of carrying the records.
    """

    @azfunc_telemetry.instrument(name=function_name)
    def invocation(context: FakeContext) -> None:
        info = APP_LOGGER.info
        for index in range(RECORDS_PER_INVOCATION):
            info(MESSAGE, "A-77", index, extra=EXTRA)

    return invocation


def opencensus_log_handler(connection_string: str) -> logging.Handler:
    """opencensus-ext-azure's ``AzureLogHandler`` with its defaults, local storage off.

    It sets its lock to None, which Python 3.13's ``Handler.handle`` cannot use; there it gets
    a real lock, as any 3.13 user of it would have to give it. Not before 3.13: with a lock,
    its exit deadlocks against a hung endpoint (``logging.shutdown`` holds the lock while it
    flushes, and the worker thread, when the send times out, logs a warning through the same
    handler), so a lock there would make opencensus look worse than its users see it.
    """
    disable_statsbeat()
    from opencensus.ext.azure.log_exporter import AzureLogHandler

    handler: logging.Handler = AzureLogHandler(
        connection_string=connection_string, enable_local_storage=False
    )
    if handler.lock is None and sys.version_info >= (3, 13):
        logging.Handler.createLock(handler)
    return handler


def opencensus_exporter(connection_string: str) -> Any:
    """opencensus-ext-azure's ``AzureExporter`` (traces) with its defaults, storage off."""
    disable_statsbeat()
    from opencensus.ext.azure.trace_exporter import AzureExporter

    return AzureExporter(connection_string=connection_string, enable_local_storage=False)


class OpenCensusInvocation:
    """The per-invocation work opencensus-extension-azure-functions does around a function.

    Its pre-invocation hook parses the incoming ``traceparent`` and builds a ``Tracer`` with an
    always-on sampler; the function opens one span with ``context.tracer.span(...)`` as the
    extension's docs require; the post-invocation hook removes the tracer. Ending the span hands
    it to the ``AzureExporter`` queue.
    """

    def __init__(self, exporter: Any) -> None:
        from opencensus.trace.propagation.trace_context_http_header_format import (
            TraceContextPropagator,
        )
        from opencensus.trace.samplers import ProbabilitySampler
        from opencensus.trace.tracer import Tracer

        self._exporter = exporter
        self._propagator = TraceContextPropagator
        self._sampler = ProbabilitySampler
        self._tracer = Tracer

    def wrap_sync(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with the extension's hooks and one span around each call."""

        def invoke(req: Any, context: FakeContext) -> Any:
            tracer = self._begin(context)
            with tracer.span(name=context.function_name):
                result = function(req, context)
            self._end(context)
            return result

        return invoke

    def wrap_async(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """The same for an ``async def`` function."""

        async def invoke(req: Any, context: FakeContext) -> Any:
            tracer = self._begin(context)
            with tracer.span(name=context.function_name):
                result = await function(req, context)
            self._end(context)
            return result

        return invoke

    def _begin(self, context: FakeContext) -> Any:
        span_context = self._propagator().from_headers(
            {
                "traceparent": context.trace_context.trace_parent,
                "tracestate": context.trace_context.trace_state,
            }
        )
        tracer = self._tracer(
            span_context=span_context, exporter=self._exporter, sampler=self._sampler(1.0)
        )
        # The extension hangs the tracer on the context for the function to use.
        context.tracer = tracer  # type: ignore[attr-defined]
        return tracer

    @staticmethod
    def _end(context: FakeContext) -> None:
        if getattr(context, "tracer", None) is not None:
            del context.tracer  # type: ignore[attr-defined]
