"""Delivery counters: exact under concurrent drops, and snapshots that never change."""

from __future__ import annotations

import threading

import pytest

import azfunc_telemetry
from azfunc_telemetry.export.stats import DeliveryStats, TelemetryStats


def test_a_snapshot_cannot_be_changed_and_shares_nothing_mutable() -> None:
    """Fields cannot be reassigned, and no snapshot's causes can be changed through it."""
    first = TelemetryStats(queued=0, sent=0, retried=0, persisted=0, dropped=0, pending=0)
    with pytest.raises(AttributeError):
        first.sent = 1  # type: ignore[misc]
    assert first.dropped_by_cause == {}
    with pytest.raises(TypeError):
        first.dropped_by_cause["queue_full"] = 1  # type: ignore[index]
    counters = DeliveryStats()
    counters.add_dropped("status_400", 2)
    taken, again = counters.snapshot(queued=0, pending=0), counters.snapshot(queued=0, pending=0)
    assert taken.dropped_by_cause == again.dropped_by_cause == {"status_400": 2}
    assert taken.dropped_by_cause is not again.dropped_by_cause


def test_snapshots_are_copies_of_the_counters() -> None:
    """A snapshot taken earlier keeps its numbers while the counters move on."""
    counters = DeliveryStats()
    counters.add_dropped("status_400", 2)
    before = counters.snapshot(queued=0, pending=0)
    counters.add_dropped("status_400", 3)
    counters.queue_full()
    after = counters.snapshot(queued=0, pending=0)
    assert before.dropped_by_cause == {"status_400": 2}
    assert before.dropped == 2
    assert after.dropped_by_cause == {"status_400": 5, "queue_full": 1}
    assert after.dropped == 6


def test_queue_full_drops_are_counted_exactly_while_being_read() -> None:
    """Drops counted from eight threads while another reads: the count is exact, never backwards."""
    counters = DeliveryStats()
    threads_count, per_thread = 8, 20_000
    start = threading.Barrier(threads_count + 1)
    done = threading.Event()
    readings: list[int] = []

    def drop() -> None:
        start.wait()
        for _ in range(per_thread):
            counters.queue_full()

    def read() -> None:
        start.wait()
        while not done.is_set():
            readings.append(counters.queue_full_count())

    droppers = [threading.Thread(target=drop) for _ in range(threads_count)]
    reader = threading.Thread(target=read)
    for thread in [*droppers, reader]:
        thread.start()
    for thread in droppers:
        thread.join(60)
    done.set()
    reader.join(60)
    assert readings, "the reader ran"
    assert readings == sorted(readings)
    assert counters.queue_full_count() == threads_count * per_thread
    assert counters.dropped_total() == threads_count * per_thread
    assert counters.snapshot(queued=0, pending=0).dropped_by_cause == {
        "queue_full": threads_count * per_thread
    }


def test_stats_without_a_pipeline_is_an_empty_snapshot() -> None:
    """Before setup, stats() is a snapshot of zeros with an empty cause mapping."""
    counters = azfunc_telemetry.stats()
    assert isinstance(counters, TelemetryStats)
    assert (counters.sent, counters.dropped, counters.pending) == (0, 0, 0)
    assert counters.dropped_by_cause == {}
