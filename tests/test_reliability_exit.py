"""Process exit, restart and fork, each observed in a real child process.

The exit deadline is ``exit_timeout_s`` (default 2 s) plus the time to write what is still in
memory to local disk; the children here use ``exit_timeout_s=1.0``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from helpers import messages
from procs.launch import child_environment, run_program, start_program, stored_items

from azfunc_telemetry.testing import IngestionEmulator, ScriptedResponse

EXIT_TIMEOUT_S = 1.0
# Each test runs processes to their exit: left out of the fast inner loop.
pytestmark = pytest.mark.slow

#: Writing a few hundred items to disk and tearing the interpreter down.
EXIT_SLACK_S = 0.75


def expected(marker: str, count: int) -> set[str]:
    """The messages ``emit_then_exit.py`` logs."""
    return {f"{marker} {index}" for index in range(count)}


def restart_and_deliver(
    emulator: IngestionEmulator, storage: Path, wanted: set[str]
) -> tuple[str, str]:
    """Run a fresh process on ``storage`` until the emulator has ``wanted``; return its output."""
    env = child_environment(emulator.connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S)
    with start_program("serve_until_stdin_closes", env=env) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        try:
            emulator.wait_for(lambda envelopes: wanted <= set(messages(envelopes)), timeout=10.0)
        finally:
            stdout, stderr = process.communicate("", timeout=10.0)
    assert process.returncode == 0, stderr
    return stdout, stderr


def test_exit_with_healthy_endpoint_delivers_everything_pending(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A process that logs and exits without flush(): every record is delivered at exit."""
    storage = tmp_path / "store"
    env = child_environment(emulator.connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S)
    run = run_program("emit_then_exit", "300", "healthy", env=env)
    assert run.returncode == 0, run.stderr
    # The child is gone: what it delivered is already here, nothing was left behind.
    assert Counter(messages(emulator.envelopes)) == Counter(expected("healthy", 300))
    assert stored_items(storage) == []
    assert run.exit_s < EXIT_TIMEOUT_S


def test_exit_with_hung_endpoint_meets_the_deadline_and_persists(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """The endpoint never answers: exit takes exit_timeout_s, and nothing pending is lost."""
    storage = tmp_path / "store"
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    env = child_environment(
        emulator.connection_string,
        storage,
        exit_timeout_s=EXIT_TIMEOUT_S,
        request_timeout_s=30.0,  # the send cannot time out by itself before the deadline
    )
    run = run_program("emit_then_exit", "200", "hung", env=env)
    assert run.returncode == 0, run.stderr
    # It waits for the endpoint until the deadline less the share kept for writing to disk.
    assert 0.85 * EXIT_TIMEOUT_S <= run.exit_s <= EXIT_TIMEOUT_S + EXIT_SLACK_S
    assert expected("hung", 200) <= set(messages(stored_items(storage)))
    assert emulator.envelopes == []  # the hung requests were never answered
    emulator.respond_with(None)
    restart_and_deliver(emulator, storage, expected("hung", 200))
    assert stored_items(storage) == []


def test_exit_during_outage_persists_and_the_next_process_delivers(tmp_path: Path) -> None:
    """Refused connections: the exit is quick, the records wait on disk for the next process."""
    storage = tmp_path / "store"
    with IngestionEmulator() as first:
        port, connection_string = first.port, first.connection_string
    env = child_environment(connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S)
    run = run_program("emit_then_exit", "50", "outage", env=env)
    assert run.returncode == 0, run.stderr
    assert run.exit_s <= EXIT_TIMEOUT_S + EXIT_SLACK_S
    assert set(messages(stored_items(storage))) == expected("outage", 50)
    with IngestionEmulator(port=port) as back:
        restart_and_deliver(back, storage, expected("outage", 50))
        assert Counter(messages(back.envelopes)) == Counter(expected("outage", 50))
    assert stored_items(storage) == []


def test_exit_with_default_deadline_is_bounded(emulator: IngestionEmulator, tmp_path: Path) -> None:
    """With the default exit_timeout_s (2 s) a hung endpoint holds the exit at most that long."""
    storage = tmp_path / "store"
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    env = child_environment(emulator.connection_string, storage, request_timeout_s=30.0)
    del env["AZFUNC_TELEMETRY_EXIT_TIMEOUT_S"]
    run = run_program("emit_then_exit", "10", "default deadline", env=env)
    assert run.returncode == 0, run.stderr
    assert 0.85 * 2.0 <= run.exit_s <= 2.0 + EXIT_SLACK_S
    assert set(messages(stored_items(storage))) == expected("default deadline", 10)


def test_library_output_at_exit_never_contains_the_connection_string(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """What the library prints while failing and exiting names no key or connection string."""
    emulator.respond_with(lambda _: ScriptedResponse(status=500))
    env = child_environment(
        emulator.connection_string, tmp_path / "store", exit_timeout_s=EXIT_TIMEOUT_S
    )
    run = run_program("emit_then_exit", "5", "quiet", "--console", env=env)
    assert run.returncode == 0
    assert "Telemetry delivery failed" in run.stderr  # it did speak
    assert emulator.ikey not in run.stderr + run.stdout
    assert "InstrumentationKey" not in run.stderr + run.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_forked_workers_export_through_their_own_machinery(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """After os.fork() each worker delivers its own records; nothing is sent twice."""
    env = child_environment(emulator.connection_string, tmp_path / "store")
    run = run_program("fork_workers", "3", "forked", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    received = messages(emulator.envelopes)
    worker_pids = {text.rsplit(" ", 1)[1] for text in received if " worker " in text}
    assert len(worker_pids) == 3
    assert str(run_pid_of(run.stdout)) not in worker_pids
    without_pids = Counter(text.split(" pid ")[0] for text in received)
    assert without_pids == Counter(
        [
            "forked parent before fork",
            "forked pending at fork",
            "forked parent after fork",
            *(f"forked worker {index}" for index in range(3)),
        ]
    )


def run_pid_of(stdout: str) -> int:
    """The pid ``fork_workers.py`` reports for itself."""
    for line in stdout.splitlines():
        if line.startswith("parent pid "):
            return int(line.split()[2])
    raise AssertionError(f"no parent pid in {stdout!r}")


def test_exit_while_sending_stored_items_hands_them_straight_to_the_next_process(
    tmp_path: Path,
) -> None:
    """A process that exits while its send of stored items hangs gives them back at once:
    the next process delivers them without waiting for the lease the first one took."""
    storage = tmp_path / "store"
    with IngestionEmulator() as first:
        port, connection_string = first.port, first.connection_string
    env = child_environment(connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S)
    assert run_program("emit_then_exit", "20", "stored", env=env).returncode == 0
    assert set(messages(stored_items(storage))) == expected("stored", 20)
    with IngestionEmulator(port=port) as hung:
        hung.respond_with(lambda _: ScriptedResponse(hang=True))
        # Stored items are leased for request_timeout_s + 5 s while being sent: 35 s here.
        env = child_environment(
            hung.connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S, request_timeout_s=30.0
        )
        with start_program("serve_until_stdin_closes", env=env) as process:
            hung.wait_for_requests(1)  # the drain is under way and hangs
            _stdout, stderr = process.communicate("", timeout=10.0)
        assert process.returncode == 0, stderr
    with IngestionEmulator(port=port) as back:
        restart_and_deliver(back, storage, expected("stored", 20))  # within 10 s, not 35
    assert stored_items(storage) == []
