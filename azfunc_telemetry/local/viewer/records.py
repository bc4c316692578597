"""The viewer's records: one invocation as the list and the timeline show it, and everything
one invocation left in the store, as the drill-down shows it. Plain data, ready for JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Invocation", "InvocationDetail"]


@dataclass(frozen=True)
class Invocation:
    """One invocation as the list and the timeline show it.

    Attributes:
        invocation_id: The Functions invocation id.
        function_name: The function that ran.
        start_ms: When the function started running, in milliseconds since the epoch (UTC).
        duration_ms: How long it ran.
        success: Whether it succeeded.
        result_code: The request's result code.
        operation_id: The trace id shared by every item of the invocation.
        shape: ``request`` (the library's requests row), ``dependency`` (the library's InProc
            dependency under the host's request) or ``host`` (the host's request alone).
        cold_start: The first invocation of its worker process; None when unknown.
        execution_mode: ``sync`` (thread pool) or ``async`` (event loop); None when unknown.
        thread_name: The thread the function ran on; None when unknown.
        pool_wait_ms: How long it waited for a pool thread, where the dispatcher measured it.
        pool_saturated: Every pool thread was busy and work was waiting when it started.
        pool_size: The pool's size when it started.
        pool_queue_depth: Work waiting in the pool when it started.
        inflight_sync: Sync invocations running when it started (itself included).
        host_duration_ms: The host's view of the duration, when the host wrote a request row.
        role_instance: The worker instance (``cloud_RoleInstance``).
        process_id: The worker process (thread names repeat in each); None when unknown.
    """

    invocation_id: str
    function_name: str
    start_ms: float
    duration_ms: float
    success: bool | None
    result_code: str | None
    operation_id: str | None
    shape: str
    cold_start: bool | None = None
    execution_mode: str | None = None
    thread_name: str | None = None
    pool_wait_ms: float | None = None
    pool_saturated: bool | None = None
    pool_size: int | None = None
    pool_queue_depth: int | None = None
    inflight_sync: int | None = None
    host_duration_ms: float | None = None
    role_instance: str | None = None
    process_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class InvocationDetail:
    """Everything one invocation left in the store, for the drill-down.

    Attributes:
        invocation: The invocation's summary.
        dimensions: Its item's ``customDimensions``.
        host_dimensions: The host's request row's ``customDimensions``, when there is one.
        logs: Its ``traces`` rows in time order: time, level, logger, message, and the
            record's own fields (its ``extra=`` dimensions).
        dependencies: Its spans: time, name, type, target, data, duration, success, result code.
        exceptions: Its ``exceptions`` rows: time, type, message, and the parsed stack.
    """

    invocation: Invocation
    dimensions: dict[str, Any]
    host_dimensions: dict[str, Any] | None
    logs: list[dict[str, Any]] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The detail as a JSON-ready dict."""
        return {
            "invocation": self.invocation.to_json(),
            "dimensions": self.dimensions,
            "host_dimensions": self.host_dimensions,
            "logs": self.logs,
            "dependencies": self.dependencies,
            "exceptions": self.exceptions,
        }
