"""The benchmarks run end to end in smoke mode and report every number and target verdict."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "per_record",
    "per_invocation",
    "cold_start",
    "throughput",
    "throughput_export",
    "outage_memory",
    "exit_latency",
    "kql",
)

# Every benchmark in a child process, about 20 s: left out of the fast inner loop.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``python -m bench --smoke`` once and load the JSON it wrote."""
    out = tmp_path_factory.mktemp("bench")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APPLICATIONINSIGHTS_", "AZFUNC_TELEMETRY_"))
    }
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert (out / "latest.md").is_file()
    report: dict[str, Any] = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    report["_markdown"] = (out / "latest.md").read_text(encoding="utf-8")
    return report


@pytest.mark.timeout(180)
def test_every_benchmark_reports_numbers(smoke_report: dict[str, Any]) -> None:
    """Each of the eight benchmarks is present with finite numeric measurements."""
    assert smoke_report["mode"] == "smoke"
    assert set(smoke_report["benchmarks"]) == set(BENCHMARKS)
    for name in BENCHMARKS:
        measurements = smoke_report["benchmarks"][name]["measurements"]
        assert measurements, name
        for key, measurement in measurements.items():
            value = measurement["value"]
            assert isinstance(value, int | float), (name, key)
            assert math.isfinite(value), (name, key)
            assert measurement["unit"], (name, key)


@pytest.mark.timeout(180)
def test_every_benchmark_judges_its_targets(smoke_report: dict[str, Any]) -> None:
    """Each benchmark checks at least one target and records a pass/fail verdict for it."""
    total = 0
    for name in BENCHMARKS:
        targets = smoke_report["benchmarks"][name]["targets"]
        assert targets, name
        for target in targets:
            assert isinstance(target["passed"], bool), (name, target["name"])
            assert target["comparison"] in ("<=", ">=")
            assert math.isfinite(target["measured"]), (name, target["name"])
            assert math.isfinite(target["limit"]), (name, target["name"])
            total += 1
    assert smoke_report["targets_total"] == total
    assert 0 <= smoke_report["targets_met"] <= total


@pytest.mark.timeout(180)
def test_report_records_the_machine(smoke_report: dict[str, Any]) -> None:
    """The JSON names the CPU, core count, Python version and package versions."""
    machine = smoke_report["machine"]
    assert machine["cpu_model"]
    assert machine["cpus_usable"] >= 1
    assert machine["python"]["version"].count(".") == 2
    assert machine["packages"]["opencensus-ext-azure"]
    assert "## Targets" in smoke_report["_markdown"]


def test_a_result_survives_the_trip_from_its_own_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What bench.isolated prints is rebuilt into an equal result, verdicts recomputed."""
    monkeypatch.syspath_prepend(str(ROOT))
    from dataclasses import asdict

    from bench.isolated import result_from_json
    from bench.report import BenchmarkResult

    original = BenchmarkResult("per_invocation", "Per invocation")
    original.add("sync_us", "sync: per call", 7.25, "µs", [7.0, 7.25, 7.5])
    original.target("sync", "at most 8 µs", 7.25, "<=", 8.0, "µs")
    original.target("ratio", "at least 8x", 6.5, ">=", 8.0, "x")
    original.notes.append("250 invocations per chunk")
    original.diagnostics["chunks"] = 20
    printed = json.loads(json.dumps(asdict(original)))
    rebuilt = result_from_json(printed)
    assert asdict(rebuilt) == asdict(original)
    assert [target.passed for target in rebuilt.targets] == [True, False]


def test_results_of_several_processes_combine_into_medians(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each number becomes the median over the processes, verdicts judged on that median."""
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.isolated import combine
    from bench.report import BenchmarkResult

    runs = []
    for sync_us in (7.6, 8.5, 7.7):
        run = BenchmarkResult("per_invocation", "Per invocation")
        run.add("sync_us", "sync: over a bare call", sync_us, "µs", [sync_us])
        run.target("sync", "at most 8 µs", sync_us, "<=", 8.0, "µs")
        run.notes.append("250 invocations per chunk")
        runs.append(run)
    combined = combine(runs)
    assert combined.measurements["sync_us"].value == 7.7
    assert combined.measurements["sync_us"].repeats == [7.6, 8.5, 7.7]
    assert [(t.measured, t.passed) for t in combined.targets] == [(7.7, True)]
    assert combined.notes[0] == "250 invocations per chunk"
    assert "median over 3 fresh processes" in combined.notes[1]
