"""``span()``: a timed piece of work inside an invocation, reported as a dependency.

Calls to a database, another service or a slow local step show up in ``dependencies``, parented
to the invocation's request (or to the span around them), and every log record emitted inside
the span is parented to the span, so the end-to-end view nests them correctly.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from ..model.records import DependencyItem, ExceptionItem, QueueItem
from .context import InvocationContext, lookup_invocation, reset_current, set_current
from .ids import new_span_id

__all__ = ["Span", "connect", "span"]

#: Where finished spans are queued: the pipeline's ``submit``, handed down by the runtime when it
#: builds one; ``None`` before ``setup()``, after ``shutdown()`` and when export is off.
_submit: Callable[[QueueItem], None] | None = None


def connect(submit: Callable[[QueueItem], None] | None) -> None:
    """Queue finished spans with ``submit`` from now on (``None``: report nothing)."""
    global _submit
    _submit = submit


class Span:
    """A context manager (``with`` or ``async with``) timing one dependency call.

    Set :attr:`result_code` (for example an HTTP status) before the block ends; it defaults to
    ``"0"``, or ``"1"`` when the block raises. An exception marks the span failed, is reported
    as an ``exceptions`` item parented to the span, and propagates unchanged.
    """

    def __init__(
        self,
        name: str,
        *,
        type: str = "InProc",
        target: str | None = None,
        data: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.target = target
        self.data = data
        self.properties: dict[str, Any] = dict(properties or {})
        self.result_code: str | int | None = None
        self.success: bool | None = None
        self.span_id = new_span_id()
        self._parent: InvocationContext | None = None
        self._token: contextvars.Token[InvocationContext | None] | None = None
        self._start_wall = 0.0
        self._start_ns = 0

    def __enter__(self) -> Span:
        self._parent = lookup_invocation()
        if self._parent is not None:
            self._token = set_current(self._parent._replace(parent_id=self.span_id))
        self._start_wall = time.time()
        self._start_ns = time.perf_counter_ns()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_ns = time.perf_counter_ns() - self._start_ns
        if self._token is not None:
            reset_current(self._token)
            self._token = None
        try:
            self._report(duration_ns, exc)
        except Exception:  # telemetry never changes what the block did
            pass

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _report(self, duration_ns: int, exc: BaseException | None) -> None:
        submit = _submit
        if submit is None:
            return
        parent = self._parent
        success = self.success if self.success is not None else exc is None
        code = self.result_code if self.result_code is not None else ("1" if exc else "0")
        properties = dict(self.properties)
        if parent is not None:
            properties.setdefault("invocation_id", parent.invocation_id)
            properties.setdefault("function_name", parent.function_name)
        submit(
            DependencyItem(
                operation_id=parent.operation_id if parent else None,
                parent_id=parent.parent_id if parent else None,
                operation_name=parent.function_name if parent else None,
                span_id=self.span_id,
                name=self.name,
                type=self.type,
                target=self.target,
                data=self.data,
                start_time=self._start_wall,
                duration_ns=duration_ns,
                success=bool(success),
                result_code=str(code),
                properties=properties,
            )
        )
        if exc is not None:
            context = parent._replace(parent_id=self.span_id) if parent else None
            submit(
                ExceptionItem(exc, context, time.time(), {"span": self.name, "handled": "false"})
            )


def span(
    name: str,
    *,
    type: str = "InProc",
    target: str | None = None,
    data: str | None = None,
    properties: dict[str, Any] | None = None,
) -> Span:
    """Time a dependency call: ``with span("orders-db", type="SQL", target="db01"): ...``.

    Works as ``with`` and ``async with``. See :class:`Span`.
    """
    return Span(name, type=type, target=target, data=data, properties=properties)
