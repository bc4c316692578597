"""Long and hard outages: the caller never waits, memory and disk stay bounded, and every loss
is counted."""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import messages
from procs.launch import (
    child_environment,
    fast_setup,
    run_program,
    stored_blobs,
    stored_items,
    wait_until,
)

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator, RecordedRequest, ScriptedResponse

log = logging.getLogger("app.outage")

# Outages last seconds by nature: every test here is left out of the fast inner loop.
pytestmark = [pytest.mark.usefixtures("info_logging"), pytest.mark.slow]


@pytest.fixture
def refused_endpoint() -> str:
    """The connection string of an endpoint that refuses connections (its port is closed)."""
    with IngestionEmulator() as gone:
        return gone.connection_string


def emit_timings_ns(count: int, label: str) -> list[int]:
    """Time ``count`` log calls one by one, in nanoseconds."""
    timings = []
    clock = time.perf_counter_ns
    for index in range(count):
        started = clock()
        log.info("%s %d", label, index)
        timings.append(clock() - started)
    return timings


def test_hung_endpoint_does_not_slow_the_emit_path(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """The per-call cost of logging is the same whether the endpoint answers or hangs."""
    fast_setup(emulator.connection_string, tmp_path / "store", request_timeout_s=30.0)
    emit_timings_ns(500, "warm-up")
    assert azfunc_telemetry.flush(5.0)
    healthy = emit_timings_ns(3000, "healthy")
    assert azfunc_telemetry.flush(5.0)
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    log.info("this request hangs")
    emulator.wait_for_requests(len(emulator.requests) + 1)
    hung = emit_timings_ns(3000, "hung")
    healthy_median, hung_median = statistics.median(healthy), statistics.median(hung)
    assert hung_median <= 2 * healthy_median + 2_000
    assert hung_median < 1_000_000  # well under a millisecond
    assert azfunc_telemetry.stats().queued >= 3000  # the export thread really was stuck


def test_hung_endpoint_does_not_lengthen_an_invocation(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """An instrumented function takes as long with a hung endpoint as with a healthy one."""
    fast_setup(emulator.connection_string, tmp_path / "store", request_timeout_s=30.0)

    @azfunc_telemetry.instrument
    def function() -> None:
        for index in range(20):
            log.info("inside %d", index)

    def durations(count: int) -> list[int]:
        result = []
        for _ in range(count):
            started = time.perf_counter_ns()
            function()
            result.append(time.perf_counter_ns() - started)
        return result

    durations(50)
    assert azfunc_telemetry.flush(5.0)
    healthy = durations(300)
    assert azfunc_telemetry.flush(5.0)
    emulator.respond_with(lambda _: ScriptedResponse(hang=True))
    log.info("this request hangs")
    emulator.wait_for_requests(len(emulator.requests) + 1)
    hung = durations(300)
    assert statistics.median(hung) <= 2 * statistics.median(healthy) + 20_000
    assert statistics.median(hung) < 5_000_000


def test_long_outage_keeps_memory_bounded_and_counts_every_loss(
    refused_endpoint: str, tmp_path: Path
) -> None:
    """100,000 records into a dead endpoint: nothing raises, memory and disk stay capped.

    Bound in items: queue_size queued + queue_size held for retry + one batch in flight (+ one
    being built); beyond that items go to disk up to storage_max_bytes, then are dropped.
    Run in a process of its own so that the test runner's log capture keeps no records.
    """
    queue_size, batch_size, disk_cap, total = 1000, 100, 200_000, 100_000
    storage = tmp_path / "store"
    env = child_environment(
        refused_endpoint,
        storage,
        queue_size=queue_size,
        batch_size=batch_size,
        storage_max_bytes=disk_cap,
        max_attempts=2,
    )
    run = run_program("outage_flood", str(total), env=env)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.splitlines()[0])
    counters = report["stats"]
    assert report["raised"] == ""
    assert report["most_queued"] <= queue_size
    assert set(counters["dropped_by_cause"]) == {"queue_full", "storage_full"}
    assert counters["sent"] == 0
    # Every record is accounted for: dropped, or still pending (in memory or on disk).
    assert counters["dropped"] + counters["pending"] == total
    in_memory = counters["pending"] - len(stored_items(storage))
    assert in_memory <= 2 * queue_size + 2 * batch_size
    # Buffering 100,000 records would take well over 100 MB.
    assert report["peak_bytes"] < 20 * 1024 * 1024
    assert sum(blob.stat().st_size for blob in stored_blobs(storage)) <= disk_cap


def test_disk_cap_is_exact_and_drops_beyond_it_are_counted(
    refused_endpoint: str, tmp_path: Path
) -> None:
    """Local storage never grows past storage_max_bytes, not even by one batch."""
    storage = tmp_path / "store"
    disk_cap = 5_000
    fast_setup(refused_endpoint, storage, storage_max_bytes=disk_cap, max_attempts=1)
    for index in range(40):
        log.info("batch %d %s", index, "x" * 200)
        wait_until(lambda: azfunc_telemetry.stats().queued == 0)
    # Every item is either dropped or pending (on disk, or held in memory for its next try).
    wait_until(lambda: azfunc_telemetry.stats().dropped + azfunc_telemetry.stats().pending == 40)
    used = sum(blob.stat().st_size for blob in stored_blobs(storage))
    assert 0 < used <= disk_cap
    counters = azfunc_telemetry.stats()
    assert counters.persisted == len(stored_items(storage))
    assert set(counters.dropped_by_cause) == {"storage_full"}


def test_storage_retention_deletes_old_items_and_counts_them(tmp_path: Path) -> None:
    """Items older than storage_retention_s are deleted, counted, and never sent later."""
    storage = tmp_path / "store"
    with IngestionEmulator() as first:
        port, connection_string = first.port, first.connection_string
    fast_setup(connection_string, storage, storage_retention_s=0.5, max_attempts=1)
    for index in range(3):
        log.info("too old %d", index)
    wait_until(lambda: azfunc_telemetry.stats().persisted == 3)
    wait_until(
        lambda: azfunc_telemetry.stats().dropped_by_cause.get("storage_expired") == 3,
        timeout_s=10.0,
    )
    assert stored_blobs(storage) == []
    with IngestionEmulator(port=port) as back:
        log.info("fresh")
        back.wait_for(lambda envelopes: "fresh" in messages(envelopes), timeout=5.0)
        # flush() reports the loss since the previous flush; nothing is pending any more.
        assert not azfunc_telemetry.flush(5.0)
        assert messages(back.envelopes) == ["fresh"]
    assert azfunc_telemetry.stats().pending == 0


def test_retries_are_not_lost_when_memory_for_them_is_full(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """Held-for-retry items beyond queue_size go to disk, and are delivered from there."""
    storage = tmp_path / "store"
    emulator.script(ScriptedResponse(status=503, headers={"Retry-After": "1"}))
    fast_setup(emulator.connection_string, storage, queue_size=20, batch_size=7)
    log.info("held 0")
    emulator.wait_for_requests(1)
    for burst in range(7):  # bursts of one batch each, all within the Retry-After second
        for index in range(1 + 7 * burst, 8 + 7 * burst):
            log.info("held %d", index)
        wait_until(lambda: azfunc_telemetry.stats().queued == 0)
    expected = {f"held {index}" for index in range(50)}
    emulator.wait_for(lambda envelopes: expected <= set(messages(envelopes)), timeout=10.0)
    assert azfunc_telemetry.flush(5.0)
    counters = azfunc_telemetry.stats()
    assert counters.persisted > 0
    assert counters.dropped == 0
    assert len(messages(emulator.envelopes)) == 50


def test_stored_items_are_retried_on_time_after_a_failed_retry(
    emulator: IngestionEmulator, tmp_path: Path
) -> None:
    """A stored blob whose retry failed is handed back at once, so the next retry, one
    storage_retry_interval_s later, sends it. It used to stay leased for a whole interval, miss
    that retry by a hair and wait one more (after a 10 s outage the last blob came at 33 s)."""
    retry_interval_s = 4.0
    fast_setup(
        emulator.connection_string,
        tmp_path / "store",
        max_attempts=1,
        storage_retry_interval_s=retry_interval_s,
    )
    outage = True
    sends: Counter[str] = Counter()

    def respond(request: RecordedRequest) -> ScriptedResponse | None:
        if not outage:
            return None
        sends.update(re.findall(r"outage-test \d+", request.body.decode("utf-8")))
        return ScriptedResponse(status=503)

    emulator.respond_with(respond)
    logged = [f"outage-test {index}" for index in range(20)]
    for text in logged:
        log.info(text)
    # Sent once, stored, retried from storage once: that retry failed.
    wait_until(lambda: any(count >= 2 for count in sends.values()), timeout_s=3 * retry_interval_s)
    failed_retry = time.monotonic()
    outage = False
    emulator.wait_for(
        lambda envelopes: set(logged) <= set(messages(envelopes)), timeout=3 * retry_interval_s
    )
    took_s = time.monotonic() - failed_retry
    assert took_s < 1.5 * retry_interval_s, f"delivered {took_s:.1f} s after the failed retry"
    wait_until(lambda: stored_blobs(tmp_path / "store") == [])  # once the answer is read
    assert azfunc_telemetry.stats().pending == 0
