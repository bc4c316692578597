"""Settings and launching shared by the reliability tests.

``fast_settings`` shrinks every delay (intervals, backoff, timeouts) so faults play out in
fractions of a second; ``run_program`` runs a program of this folder in a fresh interpreter and
measures how long its exit took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azfunc_telemetry

__all__ = [
    "FAST_SETTINGS",
    "ChildRun",
    "child_environment",
    "fast_setup",
    "program_path",
    "run_program",
    "start_program",
    "stored_blobs",
    "stored_items",
    "wait_until",
]

FAST_SETTINGS: dict[str, Any] = {
    "export_interval_s": 0.05,
    "backoff_base_s": 0.05,
    "backoff_max_s": 0.2,
    "request_timeout_s": 0.5,
    "storage_retry_interval_s": 0.2,
    "exit_timeout_s": 1.0,
    "metrics_interval_s": 3600.0,
}

_HERE = Path(__file__).resolve().parent


def fast_setup(connection_string: str, storage: Path, **overrides: Any) -> None:
    """``setup()`` against ``connection_string`` with short delays and storage in ``storage``."""
    settings = {**FAST_SETTINGS, **overrides}
    azfunc_telemetry.setup(
        connection_string=connection_string, storage_path=str(storage), **settings
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for ``condition`` (state of another thread or process) with a deadline.

    Raises:
        AssertionError: ``condition`` was still false after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s:g} s")
        time.sleep(0.005)


def program_path(name: str) -> str:
    """The path of the program ``name`` (without ``.py``) in this folder."""
    return str(_HERE / f"{name}.py")


def child_environment(connection_string: str, storage: Path, **overrides: Any) -> dict[str, str]:
    """The environment of a child function-app process: app settings only, fast delays."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_"))
    }
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connection_string
    env["AZFUNC_TELEMETRY_STORAGE_PATH"] = str(storage)
    for option, value in {**FAST_SETTINGS, **overrides}.items():
        env[f"AZFUNC_TELEMETRY_{option.upper()}"] = str(value)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass(frozen=True)
class ChildRun:
    """How a child process ended."""

    returncode: int
    stdout: str
    stderr: str
    #: Seconds from the program's last statement to the end of the process (its exit path).
    exit_s: float
    #: Seconds from launch to the end of the process.
    wall_s: float


def start_program(name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start program ``name`` with pipes for stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, program_path(name), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_program(name: str, *args: str, env: dict[str, str], timeout_s: float = 60.0) -> ChildRun:
    """Run program ``name`` to its end.

    The program prints ``main-done <time.monotonic()>`` as its last statement (the clock is
    shared by all processes of the machine), so the time its exit took is measured exactly.
    """
    started = time.monotonic()
    with start_program(name, *args, env=env) as process:
        stdout, stderr = process.communicate(timeout=timeout_s)
        ended = time.monotonic()
    done_at = ended
    for line in stdout.splitlines():
        if line.startswith("main-done "):
            done_at = float(line.split()[1])
    return ChildRun(process.returncode, stdout, stderr, ended - done_at, ended - started)


def stored_blobs(storage: Path) -> list[Path]:
    """The blob files (leased or not) in a local storage folder."""
    if not storage.is_dir():
        return []
    return sorted(p for p in storage.iterdir() if p.name.endswith((".blob", ".lock")))


def stored_items(storage: Path) -> list[dict[str, Any]]:
    """Every envelope waiting in a local storage folder."""
    items: list[dict[str, Any]] = []
    for blob in stored_blobs(storage):
        with open(blob, encoding="utf-8") as file:
            items.extend(json.loads(line) for line in file if line.strip())
    return items
