"""Benchmark 6: how long a process takes to exit after its last invocation.

A function app's worker is recycled often; an exit that waits on a slow endpoint delays the
next instance, and one that gives up too early loses telemetry. A child
(:mod:`bench.exit_child`) logs 100 records in an invocation and returns from ``main``; the time
from there until the process is gone is the exit latency. Scenarios: a healthy emulator, and a
hung one (it reads requests and never answers), for azfunc_telemetry and for opencensus's
``AzureLogHandler``. With a hung endpoint azfunc_telemetry must exit within its documented
deadline, ``exit_timeout_s``, having saved the records to local storage.
"""

from __future__ import annotations

import os
import statistics

from azfunc_telemetry.config import TelemetryConfig

from .children import EmulatorProcess, app_env, run_child, scratch_storage
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["run"]

_HEALTHY_LIMIT_S = 0.5
_RECORDS = 100
#: A child still running this long after it started is killed; its latency is then a floor.
_CHILD_LIMIT_S = 60.0


def _exit_times(
    library: str, runs: int, emulator: EmulatorProcess, env: dict[str, str], hung: bool
) -> tuple[list[float], list[int], list[int], int]:
    """Exit latencies (s), items received by the emulator and local blobs left, per run, and
    how many children had to be killed because they did not exit at all.

    A child killed after ``main`` returned counts with the latency it had reached, a floor.
    """
    latencies: list[float] = []
    received: list[int] = []
    stored: list[int] = []
    killed = 0
    storage = env["AZFUNC_TELEMETRY_STORAGE_PATH"]
    for _ in range(runs):
        before = emulator.counts()["items"]
        if hung:
            emulator.command("hang")
        try:
            child = run_child(
                ["-m", "bench.exit_child", "--library", library, "--records", str(_RECORDS)],
                env=env,
                timeout_s=_CHILD_LIMIT_S,
            )
        finally:
            if hung:
                emulator.command("normal")
        lines = child.json_lines()
        if not lines:
            scenario = "hung" if hung else "healthy"
            raise RuntimeError(
                f"the {library} exit child ({scenario} endpoint) failed before the end of main "
                f"(exit {child.returncode}): {child.stderr[-2000:]}"
            )
        killed += child.returncode != 0
        latencies.append(child.ended - float(lines[-1]["main_end"]))
        received.append(emulator.counts()["items"] - before)
        blobs = [name for name in os.listdir(storage) if ".blob" in name]
        stored.append(len(blobs))
        for name in os.listdir(storage):
            os.remove(os.path.join(storage, name))
    return latencies, received, stored, killed


_LABELS = {"azfunc": "azfunc_telemetry", "opencensus": "opencensus", "none": "no telemetry"}


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure exit latency against a healthy and a hung endpoint."""
    result = BenchmarkResult("exit_latency", "Exit latency")
    deadline_s = float(TelemetryConfig._field_defaults["exit_timeout_s"])
    few = max(1, settings.exit_runs - 2)
    scenarios = [
        ("none", False, settings.exit_runs),
        ("azfunc", False, settings.exit_runs),
        ("azfunc", True, few),
        ("opencensus", False, few),
    ]
    if settings.opencensus_hung_exit:
        scenarios.append(("opencensus", True, 1))
    times: dict[str, list[float]] = {}
    with scratch_storage() as storage:
        env = app_env(storage, emulator.connection_string)
        for library, hung, runs in scenarios:
            latencies, received, stored, killed = _exit_times(library, runs, emulator, env, hung)
            name = f"{library}_{'hung' if hung else 'healthy'}"
            times[name] = latencies
            result.diagnostics[name] = {
                "items_received": received,
                "blobs_left": stored,
                "killed": killed,
            }
            if killed:
                result.notes.append(
                    f"{_LABELS[library]}, {'hung' if hung else 'healthy'} endpoint: {killed} of "
                    f"{runs} children had not exited {_CHILD_LIMIT_S:g} s after starting and "
                    "were killed; their latency is the time until then, a lower bound"
                )
    bare = statistics.median(times["none_healthy"])
    for name, latencies in times.items():
        library, scenario = name.split("_")
        label = f"{_LABELS[library]}, {scenario} endpoint"
        if library == "none":
            label = "no telemetry (bare exit)"
        result.add(
            f"{name}_s",
            f"{label}: exit latency (median)",
            statistics.median(latencies),
            "s",
            latencies,
        )
        result.add(f"{name}_max_s", f"{label}: exit latency (worst run)", max(latencies), "s")
        if library != "none":
            result.add(
                f"{name}_holdup_s",
                f"{label}: hold-up over the bare exit (worst run)",
                max(latencies) - bare,
                "s",
            )
    result.target(
        "exit_healthy",
        "exit: at most 0.5 s with a healthy endpoint",
        statistics.median(times["azfunc_healthy"]),
        "<=",
        _HEALTHY_LIMIT_S,
        "s",
    )
    result.target(
        "exit_hung",
        f"exit: hold-up within the documented exit_timeout_s ({deadline_s:g} s), endpoint hung",
        max(times["azfunc_hung"]) - bare,
        "<=",
        deadline_s,
        "s",
    )
    result.target(
        "exit_healthy_delivered",
        f"exit: all {_RECORDS} records and the request delivered before a healthy exit",
        min(result.diagnostics["azfunc_healthy"]["items_received"]),
        ">=",
        _RECORDS + 1,
        "items",
    )
    result.target(
        "exit_hung_saved",
        "exit: the records are saved to local storage when the endpoint hangs",
        min(result.diagnostics["azfunc_hung"]["blobs_left"]),
        ">=",
        1,
        "blobs",
    )
    result.notes.append(
        "latency runs from the end of main to the process being gone, interpreter teardown "
        "included; hold-up subtracts the median exit of the same child with no telemetry "
        "configured (README: exit_timeout_s is the longest time delivery may hold up process "
        "exit); opencensus keeps its defaults (5 s grace period)"
    )
    return result
