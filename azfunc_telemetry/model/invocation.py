"""The invocation as data: which invocation an item belongs to, and what the pool looked like.

These records travel with every queued item and are read on the export thread by every backend,
so they live in the model, below the code that creates them: the context variable that holds
the current :class:`InvocationContext` is in :mod:`azfunc_telemetry.capture.context`, and the
tracker that fills :class:`InvocationStart` in :mod:`azfunc_telemetry.invocation.concurrency`.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["InvocationContext", "InvocationStart"]


class InvocationContext(NamedTuple):
    """What every item emitted during one invocation is tagged with.

    Attributes:
        invocation_id: the Functions host's id for this invocation.
        function_name: the function's name, also used as ``operation_Name``.
        operation_id: the W3C trace id shared with the host's own request row.
        parent_id: the id that telemetry emitted *now* is parented to: the invocation's request
            id, or the innermost open :func:`azfunc_telemetry.span`.
        request_id: the id of this invocation's own item (an ``InProc`` dependency under the
            host's request, or a ``requests`` row), which its logs and spans are parented to.
        host_parent_id: the span id from the incoming ``traceparent`` (the host's span, the id
            of the host's request row), if any.
    """

    invocation_id: str
    function_name: str
    operation_id: str
    parent_id: str
    request_id: str
    host_parent_id: str | None = None


class InvocationStart(NamedTuple):
    """What the tracker saw when an invocation began, and the thread it began on.

    The pool fields describe the pool sync invocations run on (for an async invocation, as
    last seen by a sync one); ``pool_queued`` and ``pool_grown`` are ``None`` when the pool
    itself cannot be seen. ``ticket`` identifies the invocation to the tracker's ``exit_*``.
    """

    inflight_sync: int
    inflight_async: int
    pool_size: int
    pool_source: str
    pool_queued: int | None
    pool_grown: bool | None
    saturated: bool
    thread_name: str
    ticket: int
