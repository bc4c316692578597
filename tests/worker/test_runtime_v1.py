"""The ``function.json`` samples inside the real ``azure_functions_runtime_v1`` library.

Run by ``nox -s worker`` on Python 3.13, where the runtime installs from PyPI; skipped elsewhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "azure_functions_runtime_v1",
    reason="not installed here: `nox -s worker` runs these tests on Python 3.13",
)

from helpers import of_type
from procs.launch import child_environment, stored_items
from runtime_checks import (
    NOT_USER,
    PROBE_V1,
    ROUNDS,
    SAMPLES,
    Call,
    assert_host_gets_each_record_once_with_its_invocation,
    assert_runs_where_the_runtime_runs_it,
    assert_saturation_matches_the_pool,
    by_invocation,
    delivered,
    invocation_items,
    props,
    succeeded,
)
from worker_host import WorkerHost, http_input, queue_input, timer_input

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator, ScriptedResponse


@pytest.fixture(scope="module")
def host() -> Iterator[WorkerHost]:
    """The samples (and the async helper probe) loaded by the v1 runtime, as the worker does."""
    with WorkerHost("azure_functions_runtime_v1", [SAMPLES, PROBE_V1]) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_logs(host: WorkerHost) -> None:
    """Each test judges only the records forwarded during it."""
    host.forget_logs()


def _calls() -> tuple[list[Call], list[Counter[str]]]:
    """Every function ROUNDS times with inputs of its own, and the records each must log."""
    calls: list[Call] = []
    expected: list[Counter[str]] = []
    for i in range(ROUNDS):
        calls.append(("HttpSync", {"req": http_input({"name": f"ada{i}"})}, None))
        expected.append(Counter([f"Greeting ada{i}"]))
        calls.append(("HttpAsync", {"req": http_input({"skus": f"sku-a{i},sku-b{i}"})}, None))
        expected.append(
            Counter([f"Quoted sku-a{i} at 9.99", f"Quoted sku-b{i} at 9.99", "Quoted 2 items"])
        )
        calls.append(("FanOut", {"req": http_input({"skus": f"sku-f{i},sku-g{i}"})}, None))
        expected.append(
            Counter(
                [
                    f"Priced sku-f{i} at 9.99",
                    f"Priced sku-g{i} at 9.99",
                    "Sent the quote of 19.98",
                    "Audit record written for 19.98",
                    "Basket of 2 items costs 19.98",
                ]
            )
        )
        calls.append(("NoContext", {"timer": timer_input()}, None))
        expected.append(Counter(["Released 0 expired reservations"]))
        order = json.dumps({"id": f"o{i}", "sku": f"sku-q{i}", "quantity": 2})
        body, metadata = queue_input(order, f"m{i}")
        calls.append(("QueueWorker", {"order": body}, metadata))
        expected.append(Counter([f"Processing order o{i}", f"Reserved 2 x sku-q{i}"]))
        calls.append(("SlowReport", {"req": http_input({"seconds": "0.05"})}, None))
        expected.append(Counter(["Building a report", "Report ready"]))
        tag = f"t{i}"
        calls.append(("AsyncHelpers", {"req": http_input({"tag": tag})}, None))
        expected.append(
            Counter(
                [
                    f"executor record {tag} 0",
                    f"executor record {tag} 1",
                    f"thread record {tag}",
                    f"to_thread record {tag}",
                    f"main record {tag}",
                ]
            )
        )
    bad = json.dumps({"id": "o-bad", "sku": "sku-x", "quantity": 0})
    body, metadata = queue_input(bad, "m-bad")
    calls.append(("QueueWorker", {"order": body}, metadata))
    expected.append(Counter(["Order o-bad has no items"]))
    return calls, expected


def test_every_sample_loads_and_runs_with_its_records_tagged(
    host: WorkerHost, exporting: IngestionEmulator
) -> None:
    """All v1 samples run at once, sync on the pool and async on the loop; each record once, tagged.

    The records of the async probe's executor and thread reach the worker with their
    invocation (the runtime's ``invocation_id_cv``), so the host keeps them.
    """
    assert set(host.functions) == {
        "AsyncHelpers",
        "FanOut",
        "HttpAsync",
        "HttpSync",
        "NoContext",
        "QueueWorker",
        "SlowReport",
    }
    calls, expected = _calls()
    invocations = host.invoke_all(calls)
    traces, requests = delivered(exporting)
    assert succeeded(invocations) == [True] * (len(calls) - 1) + [False]
    assert "InvalidOrderError" in invocations[-1].response.result.exception.message
    greeting = invocations[0].response.return_value.http
    assert greeting.body.bytes == b"Hello, ada0!"
    assert greeting.headers["x-invocation-id"] == invocations[0].invocation_id
    assert_runs_where_the_runtime_runs_it(host, invocations, requests)
    wanted = {i.invocation_id: e for i, e in zip(invocations, expected, strict=True)}
    assert by_invocation(traces) == wanted
    # The worker's older convention (the runtime's thread-local storage) is what the audit
    # thread uses; the 3.13 worker does not read it, so only the library tags that record.
    untracked = frozenset({"Audit record written for 19.98"})
    assert_host_gets_each_record_once_with_its_invocation(host, wanted, untracked)
    failed = [r for r in requests if not r["data"]["baseData"]["success"]]
    assert [props(r)["invocation_id"] for r in failed] == [invocations[-1].invocation_id]
    async_helpers = [
        log for log in host.logs if log.message.startswith(("executor", "thread", "to_thread"))
    ]
    assert len(async_helpers) == 4 * ROUNDS
    assert all(log.kept for log in async_helpers)
    assert {log.source for log in async_helpers} == {"cv"}
    sync_helpers = [log for log in host.logs if log.message.startswith(("Priced", "Sent the"))]
    assert len(sync_helpers) == 3 * ROUNDS
    assert all(log.kept for log in sync_helpers)
    assert {log.source for log in sync_helpers} == {"cv"}


def test_saturation_figures_match_the_runtime_pool(
    host: WorkerHost,
    exporting: IngestionEmulator,
    caplog: pytest.LogCaptureFixture,
    two_thread_pool: int,
) -> None:
    """SlowReport x5 on the runtime's 2-thread pool: request rows and the warning agree with it."""
    assert_saturation_matches_the_pool(host, exporting, caplog, "SlowReport")


def test_nothing_of_the_runtime_own_loggers_is_exported(
    host: WorkerHost, exporting: IngestionEmulator
) -> None:
    """The runtime's per-invocation "Function name: ..." records stay out of the export."""
    azfunc_telemetry.setup()
    invocations = host.invoke_all([("HttpSync", {"req": http_input({"name": "ada"})}, None)] * 2)
    assert succeeded(invocations) == [True, True]
    assert any(log.logger_name == "azure.functions" for log in host.logs)
    assert azfunc_telemetry.flush(60)
    names = [str(props(e).get("logger_name", "")) for e in exporting.telemetry("MessageData")]
    assert "__app__.HttpSync" in names
    assert not [n for n in names if n.startswith(("azure.functions", "azure_functions"))]


def test_sigterm_after_the_last_invocation_loses_nothing(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A worker process running the samples in the runtime is stopped by SIGTERM: nothing lost.

    Its records are held in memory (the endpoint asked for a retry in 10 minutes) when the
    signal comes; they are delivered or stored, and the process still dies of SIGTERM.
    """
    storage = tmp_path / "store"
    env = child_environment(
        emulator.connection_string, storage, exit_timeout_s=1.0, batch_size=1000
    )
    emulator.respond_with(lambda _: ScriptedResponse(status=503, headers={"Retry-After": "600"}))
    script = str(Path(__file__).resolve().parent / "stop_worker.py")
    with subprocess.Popen(
        [sys.executable, script, "3"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().split() == ["ready", "9"]
        emulator.wait_for_requests(1, timeout=30.0)
        assert emulator.envelopes == []
        emulator.respond_with(None)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGTERM, stderr
    kept = emulator.envelopes + stored_items(storage)
    user = [
        e["data"]["baseData"]["message"]
        for e in of_type(kept, "MessageData")
        if not str(props(e).get("logger_name", "")).startswith(NOT_USER)
    ]
    assert Counter(user) == Counter(
        [f"Greeting stop{i}" for i in range(3)]
        + [f"Quoted sku-s{i} at 9.99" for i in range(3)]
        + ["Quoted 1 items"] * 3
        + [f"Priced sku-t{i} at 9.99" for i in range(3)]
        + ["Sent the quote of 9.99", "Audit record written for 9.99"] * 3
        + ["Basket of 1 items costs 9.99"] * 3
    )
    assert len(invocation_items(kept)) == 9
