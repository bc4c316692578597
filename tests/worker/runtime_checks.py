"""The checks every worker runtime test makes: the runtime, the worker's forwarding, the export."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from worker_host import Invocation, WorkerHost, http_input

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator

__all__ = [
    "NOT_USER",
    "PROBE_V1",
    "PROBE_V2",
    "ROUNDS",
    "SAMPLES",
    "Call",
    "assert_host_gets_each_record_once_with_its_invocation",
    "assert_runs_where_the_runtime_runs_it",
    "assert_saturation_matches_the_pool",
    "by_invocation",
    "delivered",
    "invocation_items",
    "props",
    "succeeded",
]

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PROBE_V1 = Path(__file__).resolve().parent / "probe_v1"
PROBE_V2 = Path(__file__).resolve().parent / "probe_v2"
#: Loggers whose records are the library's or the runtime's, not the app's.
NOT_USER = ("azfunc_telemetry", "azure.functions", "azure_functions")
#: How many times each function is invoked, all at once.
ROUNDS = 3

#: One invocation to send: function name, inputs, trigger metadata.
Call = tuple[str, dict[str, Any], "dict[str, Any] | None"]


def props(envelope: dict[str, Any]) -> dict[str, Any]:
    """An envelope's custom dimensions."""
    properties: dict[str, Any] = envelope["data"]["baseData"].get("properties", {})
    return properties


def succeeded(invocations: list[Invocation]) -> list[bool]:
    """Whether the runtime answered each invocation with success."""
    return [i.response.result.status == 1 for i in invocations]


def invocation_items(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-invocation items: ``InProc`` dependencies under the host's request, or requests."""
    return [
        e
        for e in envelopes
        if e["data"]["baseType"] == "RequestData"
        or (
            e["data"]["baseType"] == "RemoteDependencyData"
            and e["data"]["baseData"].get("type") == "InProc"
        )
    ]


def delivered(emulator: IngestionEmulator) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flush, then the app's traces and the per-invocation items that reached the emulator."""
    assert azfunc_telemetry.flush(60), azfunc_telemetry.stats()
    traces = [
        e
        for e in emulator.telemetry("MessageData")
        if not str(props(e).get("logger_name", "")).startswith(NOT_USER)
    ]
    return traces, invocation_items(emulator.envelopes)


def by_invocation(traces: list[dict[str, Any]]) -> dict[str | None, Counter[str]]:
    """The traces' messages, counted per ``invocation_id`` dimension."""
    grouped: dict[str | None, Counter[str]] = {}
    for envelope in traces:
        key = props(envelope).get("invocation_id")
        grouped.setdefault(key, Counter())[envelope["data"]["baseData"]["message"]] += 1
    return grouped


def assert_runs_where_the_runtime_runs_it(
    host: WorkerHost, invocations: list[Invocation], requests: list[dict[str, Any]]
) -> None:
    """One invocation item each; sync invocations ran on the runtime's pool, async on its loop."""
    rows = Counter(props(r)["invocation_id"] for r in requests)
    assert all(rows[i.invocation_id] == 1 for i in invocations), rows
    pool_threads = {thread.name for thread in host.pool._threads}
    by_id = {props(r)["invocation_id"]: props(r) for r in requests}
    for invocation in invocations:
        row = by_id[invocation.invocation_id]
        if host.loaded(invocation.function_name).is_async:
            assert (row["execution_mode"], row["thread_name"]) == ("async", "MainThread")
        else:
            assert row["execution_mode"] == "sync"
            assert row["thread_name"] in pool_threads, (row["thread_name"], pool_threads)


def assert_host_gets_each_record_once_with_its_invocation(
    host: WorkerHost, expected: dict[str, Counter[str]], untracked: frozenset[str] = frozenset()
) -> None:
    """What the worker forwards: each app record once, with its invocation's id, kept by the host.

    Also proves no recursion between the worker's root handler and the library's: each record
    crosses the worker's handler exactly once and the handler never failed. ``untracked``
    messages come from threads that set only the runtime's thread-local storage, which the
    3.13 worker does not read.
    """
    forwarded: dict[str | None, Counter[str]] = {}
    for log in host.logs:
        if log.logger_name.startswith(NOT_USER) or log.message in untracked:
            continue
        assert log.kept, log
        forwarded.setdefault(log.invocation_id, Counter())[log.message] += 1
    wanted = {
        key: Counter({m: n for m, n in messages.items() if m not in untracked})
        for key, messages in expected.items()
    }
    assert forwarded == wanted
    assert host.handler_errors == 0


def assert_saturation_matches_the_pool(
    host: WorkerHost,
    emulator: IngestionEmulator,
    caplog: pytest.LogCaptureFixture,
    function: str,
) -> None:
    """Five blocking invocations on a 2-thread pool: rows and warning agree with the pool."""
    assert host.pool._max_workers == 2
    calls: list[Call] = [
        (function, {"req": http_input({"seconds": "0.3", "tag": f"s{i}"})}, None) for i in range(5)
    ]
    with caplog.at_level(logging.WARNING, logger="azfunc_telemetry"):
        invocations = host.invoke_all(calls)
        _, requests = delivered(emulator)
    assert succeeded(invocations) == [True] * 5
    rows = [props(r) for r in requests]
    assert len(rows) == 5
    assert {(r["pool_size"], r["pool_size_source"]) for r in rows} == {("2", "executor")}
    saturated = [r for r in rows if r["pool_saturated"] == "true"]
    assert saturated, rows
    for row in rows:
        running, queued = int(row["inflight_sync_at_start"]), int(row["pool_queue_depth"])
        # Saturated exactly when the pool holds more sync work than it has threads.
        assert (row["pool_saturated"] == "true") == (running + queued > 2), row
        assert running <= 2, row
        assert running + queued <= 5, row
    warnings = [r.getMessage() for r in caplog.records if "saturated" in r.getMessage()]
    assert len(warnings) == 1, warnings
    match = re.match(
        r"The worker's thread pool is saturated: all 2 of its threads are taken and (\d) more "
        r"(invocations are|invocation is) waiting for one \((\d) running, (\d) queued, pool "
        r"size 2, from the pool itself\)\.",
        warnings[0],
    )
    assert match, warnings[0]
    waiting, running, queued = int(match.group(1)), int(match.group(3)), int(match.group(4))
    assert waiting == running + queued - 2
    assert (match.group(2) == "invocation is") == (waiting == 1)
    figures = {(int(r["inflight_sync_at_start"]), int(r["pool_queue_depth"])) for r in saturated}
    assert (running, queued) in figures
