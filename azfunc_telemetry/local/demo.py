"""``azfunc-telemetry demo``: real invocations, real telemetry, and the KQL cookbook's answers.

The demo starts an embedded :class:`~azfunc_telemetry.local.sink.TelemetrySink`, points the
library at it, and runs the functions of :mod:`~azfunc_telemetry.local.demo_app` concurrently
through :class:`~azfunc_telemetry.testing.LocalDispatcher`, the way the Functions worker runs
them: sync functions on a thread pool sized by ``PYTHON_THREADPOOL_THREAD_COUNT`` (4 unless set,
small enough that the slow report saturates it), async ones on one event loop, each with its own
``Context`` and ``traceparent``. The dispatcher also writes the host's ``Host.Results`` request
row for each invocation, so the store holds what Application Insights holds for a function app:
the host's requests with the library's telemetry beneath them. Once everything is delivered it
runs every :data:`~azfunc_telemetry.local.cookbook.COOKBOOK` query against the store and prints
the tables.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import azfunc_telemetry
from azfunc_telemetry import runtime
from azfunc_telemetry.local.cookbook import COOKBOOK
from azfunc_telemetry.local.kql import KqlError, QueryResult, format_table, run_query
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.local.store import TelemetryStore
from azfunc_telemetry.testing import FakeContext, LocalDispatcher

if TYPE_CHECKING:
    from azfunc_telemetry.local import demo_app

__all__ = [
    "DEFAULT_POOL_SIZE",
    "InvocationRecord",
    "WorkloadResult",
    "demo_pool_size",
    "main",
    "run_workload",
]

DEFAULT_POOL_SIZE = 4
"""The demo's thread pool when ``PYTHON_THREADPOOL_THREAD_COUNT`` is not set."""

_POOL_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
_INVOCATION_TIMEOUT_S = 30.0
_FLUSH_TIMEOUT_S = 10.0
_SHOWN_ROWS = 12


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation the workload ran."""

    function_name: str
    invocation_id: str
    failed: bool


@dataclass(frozen=True)
class WorkloadResult:
    """What :func:`run_workload` did, for checking the telemetry it left behind.

    Attributes:
        store_path: The SQLite database the telemetry was stored in.
        pool_size: Threads in the sync pool.
        invocations: Every invocation, in the order they were started.
        showcase_invocation_id: A fan-out invocation, whose logs come from several threads.
        delivered: Whether every item reached the sink before the deadline.
        rows_stored: Rows the sink wrote.
        host_requests: ``requests`` rows written the way the Functions host writes them
            (category ``Host.Results``), one per invocation unless host.json turns them off.
        elapsed_s: Wall time of the whole run, delivery included.
    """

    store_path: str
    pool_size: int
    invocations: tuple[InvocationRecord, ...]
    showcase_invocation_id: str
    delivered: bool
    rows_stored: int
    elapsed_s: float
    host_requests: int = 0

    def counts(self) -> dict[str, int]:
        """Invocations per function name."""
        return dict(Counter(record.function_name for record in self.invocations))

    def failed_ids(self) -> set[str]:
        """Ids of the invocations that raised."""
        return {record.invocation_id for record in self.invocations if record.failed}

    def function_of(self) -> dict[str, str]:
        """Function name by invocation id."""
        return {record.invocation_id: record.function_name for record in self.invocations}


def demo_pool_size() -> int:
    """``PYTHON_THREADPOOL_THREAD_COUNT`` when it is a positive number, else 4."""
    raw = os.environ.get(_POOL_SETTING, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_POOL_SIZE


def run_workload(
    store_path: str | os.PathLike[str], *, pool_size: int | None = None, rounds: int = 12
) -> WorkloadResult:
    """Run the demo app's invocations against a sink writing to ``store_path``.

    Telemetry is set up for the run only (export every 0.2 s, metrics every second, nothing
    persisted to disk), replacing any configuration the process had, and shut down afterwards;
    the root logger's level is restored.

    Args:
        store_path: SQLite database; created if absent, appended to otherwise.
        pool_size: Sync pool threads; defaults to :func:`demo_pool_size`.
        rounds: Size of the workload (see :func:`~azfunc_telemetry.local.demo_app.plan`).

    Returns:
        What ran, and whether its telemetry was all delivered.

    Raises:
        ValueError: ``rounds`` is less than 1.
    """
    if rounds < 1:
        raise ValueError("the workload needs at least one round")
    size = pool_size or demo_pool_size()
    root = logging.getLogger()
    previous_level = root.level
    started = time.perf_counter()
    with TelemetrySink(store_path, port=0) as sink:
        try:
            root.setLevel(logging.INFO)  # the worker's level; Python's default hides info logs
            runtime.tracker().snapshot()  # the metrics describe this run alone
            azfunc_telemetry.setup(
                connection_string=sink.connection_string,
                enabled=True,  # the demo's own sink, whatever AZFUNC_TELEMETRY_DISABLED says
                export_interval_s=0.2,
                metrics_interval_s=1.0,
                storage_enabled=False,
                cloud_role="azfunc-telemetry-demo",
            )
            # Imported once telemetry is set up: decorating the app's functions would
            # otherwise set it up from app settings first.
            from azfunc_telemetry.local import demo_app

            records, host_requests = _invoke_all(demo_app.plan(rounds), size)
            delivered = azfunc_telemetry.flush(_FLUSH_TIMEOUT_S)
        finally:
            azfunc_telemetry.shutdown(2.0)
            root.setLevel(previous_level)
        rows_stored = sink.rows_stored
    showcase = next(r.invocation_id for r in records if r.function_name == "FanOut")
    return WorkloadResult(
        store_path=os.fspath(store_path),
        pool_size=size,
        invocations=tuple(records),
        showcase_invocation_id=showcase,
        delivered=delivered,
        rows_stored=rows_stored,
        elapsed_s=time.perf_counter() - started,
        host_requests=host_requests,
    )


def _invoke_all(
    planned: Sequence[demo_app.PlannedInvocation], pool_size: int
) -> tuple[list[InvocationRecord], int]:
    """Start every invocation at once, as a burst of triggers would, and wait for all.

    Returns:
        The invocations, and how many request rows the dispatcher wrote as the host.

    Raises:
        RuntimeError: An invocation did not finish in time, or failed (or succeeded) when the
            plan said otherwise.
    """
    started: list[tuple[demo_app.PlannedInvocation, FakeContext, Future[Any]]] = []
    with LocalDispatcher(max_workers=pool_size) as dispatcher:
        for item in planned:
            context = FakeContext(item.function_name)
            future = dispatcher.invoke(item.function, context, **item.bindings)
            started.append((item, context, future))
        _done, pending = wait([future for _, _, future in started], _INVOCATION_TIMEOUT_S)
        if pending:
            raise RuntimeError(f"{len(pending)} demo invocations did not finish in time")
    host = dispatcher.host_telemetry
    host_requests = host.sent if host is not None else 0
    from azfunc_telemetry.local import demo_app

    records = []
    for item, context, future in started:
        error = future.exception()
        expected = isinstance(error, demo_app.InvalidOrderError) if item.fails else error is None
        if not expected:
            outcome = f"failed with {error!r}" if error else "succeeded"
            raise RuntimeError(f"{item.function_name} {outcome} unexpectedly") from error
        records.append(InvocationRecord(item.function_name, context.invocation_id, item.fails))
    return records, host_requests


def _write(text: str = "") -> None:
    """Print, degrading characters the console cannot show instead of failing."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    print(text.encode(encoding, errors="replace").decode(encoding), flush=True)


def _shown(result: QueryResult) -> QueryResult:
    return QueryResult(list(result.columns), [list(row) for row in result.rows[:_SHOWN_ROWS]])


def _describe(result: WorkloadResult) -> str:
    per_function = ", ".join(f"{name} x{count}" for name, count in result.counts().items())
    failed = len(result.failed_ids())
    if result.host_requests:
        shape = (
            f"As the Functions host does, the demo wrote {result.host_requests} requests rows "
            "(category Host.Results); azfunc_telemetry reported each invocation under its row "
            "as an InProc dependency, with its logs and spans beneath."
        )
    else:
        shape = (
            "host.json turns the host's request rows off, so azfunc_telemetry reported each "
            "invocation as a requests row."
        )
    return (
        f"Ran {len(result.invocations)} invocations ({per_function}) on a pool of "
        f"{result.pool_size} threads ({_POOL_SETTING}); {failed} failed on purpose. "
        f"{result.rows_stored} rows stored in {result.elapsed_s:.1f} s.\n{shape}"
    )


def _print_cookbook(store: TelemetryStore, invocation_id: str) -> bool:
    """Run and print every cookbook query; False if one of them could not run."""
    ok = True
    for number, query in enumerate(COOKBOOK, start=1):
        text = query.filled(invocation_id=invocation_id)
        _write()
        _write(f"== {number}. {query.title} ==")
        _write("\n".join(f"    {line}" for line in text.splitlines()))
        _write()
        try:
            result = run_query(text, store)
        except KqlError as error:
            _write(f"query failed: {error}")
            ok = False
            continue
        _write(format_table(_shown(result)))
        hidden = len(result.rows) - _SHOWN_ROWS
        if hidden > 0:
            _write(f"... and {hidden} more rows")
    return ok


def _run(path: str, *, existing: bool, kept: bool) -> int:
    note = " (it already holds telemetry, which the results include)" if existing else ""
    _write(f"azfunc-telemetry demo: storing telemetry in {os.path.abspath(path)}{note}")
    result = run_workload(path)
    _write(_describe(result))
    if not result.delivered:
        _write("warning: some telemetry had not reached the sink; results may be partial")
    with TelemetryStore(path) as store:
        queries_ok = _print_cookbook(store, result.showcase_invocation_id)
    _write()
    if kept:
        _write(f"The database is kept at {os.path.abspath(path)}; explore it with")
        _write(f"    azfunc-telemetry query --db {path} 'requests | take 10'")
        _write("and see its invocations and concurrency timeline in a browser with")
        _write(f"    azfunc-telemetry ui --db {path}   (http://127.0.0.1:8643/)")
    _write(
        "To see your own app: run `azfunc-telemetry sink`, point "
        "APPLICATIONINSIGHTS_CONNECTION_STRING at the connection string it prints "
        "(in local.settings.json), start the app with `func start`, then query with "
        "`azfunc-telemetry query`."
    )
    return 0 if queries_ok and result.delivered else 1


def main(db_path: str | None, keep: bool) -> int:
    """Run the demo and print the cookbook's results; the ``demo`` subcommand calls this.

    Args:
        db_path: Database to store telemetry in; a temporary file when None.
        keep: Keep the temporary database afterwards (a given ``db_path`` is always kept).

    Returns:
        The exit status: 0 when every query ran on fully delivered telemetry.
    """
    temp_dir = None if db_path else tempfile.mkdtemp(prefix="azfunc-telemetry-demo-")
    path = db_path or os.path.join(str(temp_dir), "demo.db")
    try:
        existing = db_path is not None and os.path.exists(path)
        return _run(path, existing=existing, kept=bool(db_path) or keep)
    except BrokenPipeError:
        # The reader went away (``azfunc-telemetry demo | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    finally:
        if temp_dir is not None and not keep:
            shutil.rmtree(temp_dir, ignore_errors=True)
