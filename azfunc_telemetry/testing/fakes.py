"""A ``Context`` for unit tests, built on the real ``azure.functions`` abstract types.

In Azure the worker creates the context; in a unit test you build one, exactly as the
Functions developer guide builds ``func.HttpRequest`` objects by hand, and call your function
with it. Everything the worker sets is there: invocation id, function name, a valid W3C
``traceparent``, retry information, and the worker's shared ``thread_local_storage``.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext

from ..capture.ids import new_span_id, new_trace_id

__all__ = ["WORKER_THREAD_LOCAL", "FakeContext", "FakeRetryContext", "FakeTraceContext"]

#: Like the worker, every fake context shares one ``threading.local``.
WORKER_THREAD_LOCAL = threading.local()


class FakeTraceContext(TraceContext):
    """The W3C trace context the host passes with each invocation."""

    def __init__(
        self, trace_parent: str, trace_state: str = "", attributes: dict[str, str] | None = None
    ) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = dict(attributes or {})

    @property
    def trace_parent(self) -> str:
        """``00-<trace id>-<span id>-01``."""
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        """Vendor trace state, usually empty."""
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        """Activity tags the host attaches."""
        return self._attributes


class FakeRetryContext(RetryContext):
    """Retry information for triggers with a retry policy."""

    def __init__(self, retry_count: int = 0, max_retry_count: int = 0) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count

    @property
    def retry_count(self) -> int:
        """How many times this invocation was retried so far."""
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        """The retry policy's limit."""
        return self._max_retry_count

    @property
    def exception(self) -> Any:
        """The exception that caused the retry (not modelled)."""
        return None


class FakeContext(func.Context):
    """A ``func.Context`` for tests: ``main(req, FakeContext("HttpTrigger"))``.

    Args:
        function_name: the function's name as the host knows it.
        invocation_id: defaults to a new UUID.
        trace_parent: defaults to a fresh valid ``traceparent``; pass one to assert correlation.
        retry_count: for ``retry_context``.
        function_directory: for ``function_directory``.
        thread_local_storage: defaults to the shared :data:`WORKER_THREAD_LOCAL`.
    """

    def __init__(
        self,
        function_name: str = "HttpTrigger",
        *,
        invocation_id: str | None = None,
        trace_parent: str | None = None,
        trace_state: str = "",
        retry_count: int = 0,
        max_retry_count: int = 0,
        function_directory: str = "",
        thread_local_storage: threading.local | None = None,
    ) -> None:
        self._function_name = function_name
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._trace_context = FakeTraceContext(
            trace_parent or f"00-{new_trace_id()}-{new_span_id()}-01", trace_state
        )
        self._retry_context = FakeRetryContext(retry_count, max_retry_count)
        self._function_directory = function_directory
        self._thread_local_storage = (
            WORKER_THREAD_LOCAL if thread_local_storage is None else thread_local_storage
        )

    @property
    def invocation_id(self) -> str:
        """The invocation's id."""
        return self._invocation_id

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._function_name

    @property
    def function_directory(self) -> str:
        """The function's folder."""
        return self._function_directory

    @property
    def trace_context(self) -> FakeTraceContext:
        """The W3C trace context."""
        return self._trace_context

    @property
    def retry_context(self) -> FakeRetryContext:
        """Retry information."""
        return self._retry_context

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]  # the ABC says type[local]
        """The worker's thread-local storage (``invocation_id`` is set on it per thread)."""
        return self._thread_local_storage
