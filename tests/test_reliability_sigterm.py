"""SIGTERM, as the Functions host stops a worker: nothing in memory is lost, the signal still acts.

Each test runs a real child process (``procs/stopped_by_sigterm.py``) that logs records it
has not sent yet (a long export interval keeps them in memory), then sends it a real SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import messages
from procs.launch import child_environment, start_program, stored_items

from azfunc_telemetry.testing import IngestionEmulator, ScriptedResponse

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

EXIT_TIMEOUT_S = 1.0
#: Starting the stopping thread, writing a few hundred items to disk, ending the interpreter.
EXIT_SLACK_S = 0.75
#: One request carries every record the child logs.
ONE_BATCH = {"batch_size": 1000}
#: The endpoint's answer until the signal: retry in 10 minutes, so the child holds every
#: record in memory (as after any refused send) when SIGTERM arrives.
REFUSE = ScriptedResponse(status=503, headers={"Retry-After": "600"})


def expected(marker: str, count: int) -> Counter[str]:
    """The messages the child logs before it reports ``ready``."""
    return Counter(f"{marker} {index}" for index in range(count))


def saved(emulator: IngestionEmulator, storage: Path) -> Counter[str]:
    """Every message delivered to the emulator or waiting in local storage for the next start."""
    return Counter(messages(emulator.envelopes)) + Counter(messages(stored_items(storage)))


def hold_then_signal(
    emulator: IngestionEmulator, process: subprocess.Popen[str], answer: ScriptedResponse | None
) -> float:
    """Once the child's records were refused (held in its memory), answer ``answer``; SIGTERM it.

    Returns the ``time.monotonic()`` of the signal.
    """
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    emulator.wait_for_requests(1, timeout=20.0)
    assert emulator.envelopes == []
    emulator.respond_with(None if answer is None else lambda _: answer)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    return sent


def stop(
    emulator: IngestionEmulator,
    storage: Path,
    mode: str,
    marker: str,
    answer: ScriptedResponse | None = None,
    **settings: float,
) -> tuple[int, float, str]:
    """Start the child, SIGTERM it with its records in memory: return code, stop time, stdout."""
    env = child_environment(
        emulator.connection_string,
        storage,
        **{"exit_timeout_s": EXIT_TIMEOUT_S, **ONE_BATCH, **settings},
    )
    emulator.respond_with(lambda _: REFUSE)
    with start_program("stopped_by_sigterm", "200", marker, mode, env=env) as process:
        sent = hold_then_signal(emulator, process, answer)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - sent
    assert "Traceback" not in stderr, stderr
    return process.returncode, took, stdout


def test_default_disposition_still_ends_the_process_by_sigterm_with_nothing_lost(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """No handler of the app's: all 200 records saved, and the process still dies of SIGTERM."""
    storage = tmp_path / "store"
    code, took, _ = stop(emulator, storage, "default", "dfl")
    assert code == -signal.SIGTERM
    assert saved(emulator, storage) == expected("dfl", 200)
    assert took < EXIT_TIMEOUT_S + EXIT_SLACK_S


def test_app_handler_set_before_setup_runs_after_the_flush(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """The app's handler (ending with os._exit, no atexit) runs once the records are saved."""
    storage = tmp_path / "store"
    code, _, stdout = stop(emulator, storage, "app-before", "before")
    assert code == 3
    assert "app handler" in stdout
    assert saved(emulator, storage) == expected("before", 200)


def test_app_handler_set_after_setup_is_chained_once_a_function_is_decorated(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A handler set after setup goes behind the flush at the next decoration on the main thread."""
    storage = tmp_path / "store"
    code, _, stdout = stop(emulator, storage, "app-after", "after")
    assert code == 4
    assert "app handler" in stdout
    assert saved(emulator, storage) == expected("after", 200)


def test_hung_endpoint_still_ends_within_the_exit_timeout_and_the_next_process_delivers(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """The endpoint never answers: SIGTERM still ends the process in time; the records persist."""
    storage = tmp_path / "store"
    hung = ScriptedResponse(hang=True)
    code, took, _ = stop(emulator, storage, "default", "hung", hung, request_timeout_s=30.0)
    assert code == -signal.SIGTERM
    assert took < EXIT_TIMEOUT_S + EXIT_SLACK_S
    assert emulator.envelopes == []
    assert Counter(messages(stored_items(storage))) == expected("hung", 200)
    emulator.respond_with(None)
    env = child_environment(emulator.connection_string, storage, exit_timeout_s=EXIT_TIMEOUT_S)
    with start_program("serve_until_stdin_closes", env=env) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        try:
            emulator.wait_for(
                lambda envelopes: set(expected("hung", 200)) <= set(messages(envelopes)),
                timeout=20.0,
            )
        finally:
            process.communicate("", timeout=20.0)
    assert stored_items(storage) == []


@pytest.mark.slow
def test_a_second_sigterm_does_not_cut_the_first_one_short(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """The host repeats SIGTERM while the handler waits on a hung endpoint: still nothing lost."""
    storage = tmp_path / "store"
    env = child_environment(
        emulator.connection_string,
        storage,
        exit_timeout_s=EXIT_TIMEOUT_S,
        request_timeout_s=30.0,
        **ONE_BATCH,
    )
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    with start_program("stopped_by_sigterm", "200", "twice", "default", env=env) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        emulator.wait_for_requests(1, timeout=20.0)  # the records hang in flight
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        # The first handler waits out the hung request for most of exit_timeout_s.
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(0.3)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        took = time.monotonic() - sent
    assert process.returncode == -signal.SIGTERM
    assert took > 0.3
    assert took < EXIT_TIMEOUT_S + EXIT_SLACK_S
    assert saved(emulator, storage) == expected("twice", 200)


def test_ignored_sigterm_flushes_and_telemetry_carries_on(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """SIGTERM ignored by the app: records so far are delivered, the process and telemetry go on."""
    env = child_environment(
        emulator.connection_string, tmp_path / "store", exit_timeout_s=EXIT_TIMEOUT_S, **ONE_BATCH
    )
    emulator.respond_with(lambda _: REFUSE)
    with start_program("stopped_by_sigterm", "50", "ign", "ignored", env=env) as process:
        hold_then_signal(emulator, process, None)
        # Delivered now, long before the refused send's 10 minutes are up.
        emulator.wait_for(lambda envelopes: len(messages(envelopes)) >= 50, timeout=20.0)
        stdout, stderr = process.communicate("go on\n", timeout=30)
    assert process.returncode == 0, stderr
    assert "main-done" in stdout
    wanted = expected("ign", 50) + Counter(f"ign-after {index}" for index in range(50))
    assert Counter(messages(emulator.envelopes)) == wanted
