"""``os.fork()`` at awkward moments, in real processes: right after setup, and from a worker
thread whose child then calls ``sys.exit()``."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from helpers import messages
from procs.launch import child_environment, run_program

from azfunc_telemetry.testing import IngestionEmulator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")

#: Generous: eleven processes share the emulator on a loaded machine.
REQUEST_TIMEOUT_S = 10.0


@pytest.mark.parametrize("round_", [1, 2])
def test_children_forked_right_after_setup_export_their_own_records(
    emulator: IngestionEmulator, tmp_path: Path, round_: int
) -> None:
    """Ten workers forked 0.5 ms apart while the export thread is still starting: each
    delivers all of its 500 records, and nothing goes wrong on stderr."""
    marker = f"early{round_}"
    env = child_environment(
        emulator.connection_string, tmp_path / "store", request_timeout_s=REQUEST_TIMEOUT_S
    )
    run = run_program("fork_early", "10", "500", marker, env=env)
    assert run.returncode == 0, run.stderr
    codes = next(line.split()[1:] for line in run.stdout.splitlines() if line.startswith("codes"))
    assert codes == ["0"] * 10, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    per_worker = Counter(
        text.split(" record ")[0] for text in messages(emulator.envelopes) if " worker " in text
    )
    assert per_worker == {f"{marker} worker {index}": 500 for index in range(10)}


def test_child_forked_from_a_thread_exits_when_it_calls_sys_exit(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A child forked from a worker thread that calls sys.exit(0) ends, with status 0, within
    the exit deadline, after delivering its record, instead of living on."""
    exit_timeout_s = 1.0
    env = child_environment(
        emulator.connection_string, tmp_path / "store", exit_timeout_s=exit_timeout_s
    )
    run = run_program("fork_from_thread_then_exit", "thread", env=env)
    assert run.returncode == 0, run.stderr
    report = next(line.split() for line in run.stdout.splitlines() if line.startswith("child"))
    assert report[1] != "alive", "the child did not exit"
    assert report[1] == "0"
    assert float(report[2]) <= exit_timeout_s + 1.0
    received = messages(emulator.envelopes)
    assert any(text.startswith("thread child pid ") for text in received)
    assert "thread parent" in received
