"""Helper threads and pool saturation inside the real ``azure_functions_runtime`` library.

The probe app (``probe_v2/probe_app.py``) logs from executors and threads of sync and async
functions, and has a blocking function to fill the runtime's pool. Run by ``nox -s worker``
on Python 3.13, where the runtime installs from PyPI; skipped elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

pytest.importorskip(
    "azure_functions_runtime",
    reason="not installed here: `nox -s worker` runs these tests on Python 3.13",
)

from runtime_checks import (
    PROBE_V2,
    ROUNDS,
    Call,
    assert_host_gets_each_record_once_with_its_invocation,
    assert_runs_where_the_runtime_runs_it,
    assert_saturation_matches_the_pool,
    by_invocation,
    delivered,
    succeeded,
)
from worker_host import WorkerHost, http_input

from azfunc_telemetry.testing import IngestionEmulator


@pytest.fixture(scope="module")
def host() -> Iterator[WorkerHost]:
    """The probe app indexed and loaded by the v2 runtime (its script named by app setting)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHON_SCRIPT_FILE_NAME", "probe_app.py")
        with WorkerHost("azure_functions_runtime", [PROBE_V2]) as running:
            yield running


@pytest.fixture(autouse=True)
def fresh_logs(host: WorkerHost) -> None:
    """Each test judges only the records forwarded during it."""
    host.forget_logs()


def test_helper_records_carry_the_runtime_invocation(
    host: WorkerHost, exporting: IngestionEmulator
) -> None:
    """Executor, thread and to_thread records of sync and async functions carry their id."""
    calls: list[Call] = []
    expected: list[Counter[str]] = []
    for i in range(ROUNDS):
        for name in ("sync_helpers", "async_helpers"):
            tag = f"{name}{i}"
            calls.append((name, {"req": http_input({"tag": tag})}, None))
            records = [
                f"executor record {tag} 0",
                f"executor record {tag} 1",
                f"thread record {tag}",
                f"main record {tag}",
            ]
            if name == "async_helpers":
                records.append(f"to_thread record {tag}")
            expected.append(Counter(records))
    invocations = host.invoke_all(calls)
    traces, requests = delivered(exporting)
    assert succeeded(invocations) == [True] * len(calls)
    assert_runs_where_the_runtime_runs_it(host, invocations, requests)
    wanted = {i.invocation_id: e for i, e in zip(invocations, expected, strict=True)}
    assert by_invocation(traces) == wanted
    assert_host_gets_each_record_once_with_its_invocation(host, wanted)
    helpers = [
        log for log in host.logs if log.message.startswith(("executor", "thread", "to_thread"))
    ]
    assert len(helpers) == 3 * len(calls) + ROUNDS
    assert all(log.kept for log in helpers)
    assert {log.source for log in helpers} == {"cv"}


def test_saturation_figures_match_the_runtime_pool(
    host: WorkerHost,
    exporting: IngestionEmulator,
    caplog: pytest.LogCaptureFixture,
    two_thread_pool: int,
) -> None:
    """slow x5 on the runtime's 2-thread pool: request rows and the warning agree with it."""
    assert_saturation_matches_the_pool(host, exporting, caplog, "slow")
