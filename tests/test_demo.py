"""``azfunc-telemetry demo`` runs real invocations and prints the cookbook's answers, quickly."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import azfunc_telemetry
from azfunc_telemetry.capture.handler import TelemetryHandler
from azfunc_telemetry.local import demo
from azfunc_telemetry.local.cookbook import COOKBOOK
from azfunc_telemetry.local.store import TelemetryStore

DEMO_TIMEOUT_S = 60


def demo_environment() -> dict[str, str]:
    """The caller's environment without settings that would point telemetry elsewhere."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_"))
        and name != "PYTHON_THREADPOOL_THREAD_COUNT"
    }


@pytest.mark.slow
def test_demo_command_prints_every_cookbook_result(tmp_path: Path) -> None:
    """`python -m azfunc_telemetry demo` exits 0 within a minute, printing each query's rows."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "azfunc_telemetry", "demo"],
        cwd=tmp_path,
        env=demo_environment(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    assert elapsed < DEMO_TIMEOUT_S
    out = completed.stdout
    for number, query in enumerate(COOKBOOK, start=1):
        assert f"== {number}. {query.title} ==" in out
    assert "Ran 78 invocations" in out
    assert "on a pool of 4 threads" in out
    assert "the demo wrote 78 requests rows (category Host.Results)" in out
    # Rows from real invocations: the fan-out's threads, the slow report, the failures, metrics.
    assert re.search(r"Priced sku-\d{4} in pricing_\d", out)
    assert "Audit record written for 38.00 in auditor" in out
    assert re.search(r"^SlowReport\s+12\s", out, re.MULTILINE)
    assert re.search(r"QueueWorker\s+1\s+InvalidOrderError\s+order order-\d{3} has no items", out)
    assert re.search(r"azfunc_inflight_invocations\s+\d+", out)
    assert "query failed" not in out
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in out
    assert "azfunc-telemetry sink" in out
    # The temporary database is gone afterwards.
    db_path = re.search(r"storing telemetry in (\S+)", out)
    assert db_path
    assert not os.path.exists(db_path.group(1))


@pytest.mark.slow
def test_demo_keeps_a_given_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --db the demo stores into that file, keeps it and says how to query it."""
    path = tmp_path / "kept.db"
    assert demo.main(str(path), keep=False) == 0
    out = capsys.readouterr().out
    assert f"The database is kept at {path}" in out
    assert f"azfunc-telemetry query --db {path}" in out
    with TelemetryStore(path) as store:
        requests = store.rows("requests")
        assert len(requests) == 78  # the host's, one per invocation; the library adds none
        assert {row["customDimensions"]["Category"] for row in requests} == {"Host.Results"}
        invocations = [row for row in store.rows("dependencies") if row["type"] == "InProc"]
        assert len(invocations) == 78
        assert {row["operation_ParentId"] for row in invocations} == {row["id"] for row in requests}
        assert store.count("traces") > 78
        assert store.count("exceptions") == 4
        assert store.count("customMetrics") > 0


@pytest.mark.slow
def test_keep_leaves_the_temporary_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--keep without --db keeps the temporary database and prints where it is."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the demo's temp dir lands here
    assert demo.main(None, keep=True) == 0
    out = capsys.readouterr().out
    match = re.search(r"The database is kept at (\S+); explore it with", out)
    assert match
    path = Path(match.group(1))
    assert path.parent.parent == tmp_path
    with TelemetryStore(path) as store:
        assert store.count("requests") == 78


@pytest.mark.slow
def test_temporary_database_is_removed_without_keep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --db and --keep nothing is left behind, and the output names no database."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert demo.main(None, keep=False) == 0
    assert "The database is kept" not in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_pool_size_follows_the_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo pool is PYTHON_THREADPOOL_THREAD_COUNT when set to a positive number, else 4."""
    monkeypatch.delenv("PYTHON_THREADPOOL_THREAD_COUNT", raising=False)
    assert demo.demo_pool_size() == demo.DEFAULT_POOL_SIZE == 4
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "7")
    assert demo.demo_pool_size() == 7
    for invalid in ("0", "-3", "many", ""):
        monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", invalid)
        assert demo.demo_pool_size() == 4


def test_workload_leaves_no_telemetry_pipeline_behind(tmp_path: Path) -> None:
    """After run_workload the library is shut down and the root logger level restored."""
    root = logging.getLogger()
    level = root.level
    result = demo.run_workload(tmp_path / "t.db", pool_size=2, rounds=2)
    assert result.delivered
    assert result.pool_size == 2
    assert result.counts() == {
        "HttpSync": 4, "HttpAsync": 4, "QueueWorker": 2, "SlowReport": 2, "FanOut": 1
    }  # fmt: skip
    assert root.level == level
    assert not any(isinstance(handler, TelemetryHandler) for handler in root.handlers)
    assert azfunc_telemetry.flush(0.1) is False  # no pipeline left to flush
