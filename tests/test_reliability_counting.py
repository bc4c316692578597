"""Every record is delivered or counted: records logged on the export thread, records logged
after ``shutdown()``, and what the exit says about the items it saved."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from helpers import base
from procs.launch import child_environment, fast_setup, run_program, stored_items

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator

log = logging.getLogger("app.counting")

pytestmark = pytest.mark.usefixtures("info_logging")


class LogsWhenPrinted:
    """A value that logs a record (carrying ``inner`` as its own extra) when turned into text."""

    def __init__(self, text: str, inner: object = None) -> None:
        self.text = text
        self.inner = inner
        self.printed_on: list[str] = []

    def __str__(self) -> str:
        self.printed_on.append(threading.current_thread().name)
        extra = {} if self.inner is None else {"inner": self.inner}
        log.info("logged by %s", self.text, extra=extra)
        return self.text


def test_records_logged_by_a_value_on_the_export_thread_are_delivered_or_counted(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A value whose __str__ logs: its record is delivered with the batch; a record logged
    while building that one is counted as logged_during_export; nothing recurses or vanishes."""
    fast_setup(emulator.connection_string, tmp_path / "store")
    deepest = LogsWhenPrinted("deepest")
    middle = LogsWhenPrinted("middle", inner=deepest)
    log.info("outer", extra={"value": middle})
    azfunc_telemetry.flush(5.0)  # False: one record was counted as dropped
    arrived = sorted(base(e)["message"] for e in emulator.envelopes)
    assert arrived == ["logged by middle", "outer"]
    assert middle.printed_on == ["azfunc-telemetry-export"]
    assert deepest.printed_on == ["azfunc-telemetry-export"]
    counters = azfunc_telemetry.stats()
    assert counters.dropped_by_cause == {"logged_during_export": 1}
    assert counters.sent == 2


def test_stats_after_shutdown_keep_the_final_figures_and_count_later_records(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """After shutdown() stats() still reads what was sent, and records logged afterwards are
    counted as dropped (after_shutdown) instead of vanishing."""
    fast_setup(emulator.connection_string, tmp_path / "store")
    for index in range(5):
        log.info("before shutdown %d", index)
    azfunc_telemetry.shutdown(5.0)
    assert azfunc_telemetry.stats().sent == 5
    log.info("after shutdown 1")
    log.warning("after shutdown 2")
    final = azfunc_telemetry.stats()
    assert final.sent == 5
    assert final.dropped_by_cause == {"after_shutdown": 2}
    assert final.dropped == 2
    assert len(emulator.envelopes) == 5
    # A new setup() starts afresh: no counter left on the root logger, fresh figures.
    fast_setup(emulator.connection_string, tmp_path / "store")
    log.info("after setup again")
    assert azfunc_telemetry.flush(5.0)
    assert azfunc_telemetry.stats().sent == 1
    assert azfunc_telemetry.stats().dropped == 0


def test_exit_with_an_unreachable_endpoint_says_where_the_items_were_saved(
    tmp_path: Path,
) -> None:
    """Refused connections at exit: the last thing the library says is that the items were
    saved to local storage, and where, not that they will be retried."""
    storage = tmp_path / "store"
    with IngestionEmulator() as gone:
        connection_string, ikey = gone.connection_string, gone.ikey
    env = child_environment(connection_string, storage, exit_timeout_s=1.0)
    run = run_program("emit_then_exit", "20", "unreachable", "--console", env=env)
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if line.strip()]
    assert said, "the library said nothing"
    assert "saved to local storage in" in said[-1], said
    assert str(storage) in said[-1]
    assert "retried" not in said[-1]
    assert ikey not in run.stderr
    assert len(stored_items(storage)) == 20
