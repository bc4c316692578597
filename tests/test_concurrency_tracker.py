"""The concurrency tracker's counts under real contention, and the request row's derived fields."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from azfunc_telemetry.concurrency import ConcurrencyTracker, InvocationStart, saturation_summary
from azfunc_telemetry.context import InvocationContext
from azfunc_telemetry.items import RequestItem


def _hammer(tracker: ConcurrencyTracker, threads: int, rounds: int) -> None:
    """``threads`` threads entering and leaving ``rounds`` times each, sync and async mixed."""
    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        barrier.wait(10)
        for round_ in range(rounds):
            if (index + round_) % 2:
                tracker.exit_sync(tracker.enter_sync())
            else:
                tracker.exit_async(tracker.enter_async())

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert not worker.is_alive()


def test_counts_are_exact_under_contention() -> None:
    """8 threads x 5,000 invocations: none lost from the interval, none left in flight."""
    tracker = ConcurrencyTracker()
    _hammer(tracker, threads=8, rounds=5_000)
    snap = tracker.snapshot()
    assert snap.invocations == 40_000
    assert (snap.inflight_sync, snap.inflight_async) == (0, 0)
    assert 1 <= snap.peak_total <= 8
    assert 1 <= snap.peak_sync <= 8
    assert 1 <= snap.peak_async <= 8
    after = tracker.snapshot()
    assert (after.invocations, after.peak_total) == (0, 0)


def test_snapshots_without_reset_leave_the_interval_count_intact() -> None:
    """Peeking (reset=False) neither counts as an invocation nor ends the interval."""
    tracker = ConcurrencyTracker()
    for _ in range(3):
        tracker.exit_sync(tracker.enter_sync())
    assert tracker.snapshot(reset=False).invocations == 3
    assert tracker.snapshot(reset=False).invocations == 3
    tracker.exit_async(tracker.enter_async())
    assert tracker.snapshot().invocations == 4
    assert tracker.snapshot().invocations == 0


def test_each_start_sees_the_invocations_already_running() -> None:
    """With four sync invocations held open, the fifth starts with five in flight."""
    tracker = ConcurrencyTracker()
    held = [tracker.enter_sync() for _ in range(4)]
    running_async = tracker.enter_async()
    fifth = tracker.enter_sync()
    assert (fifth.inflight_sync, fifth.inflight_async) == (5, 1)
    assert len({start.ticket for start in [*held, fifth, running_async]}) == 6
    for start in held:
        tracker.exit_sync(start)
    tracker.exit_sync(fifth)
    tracker.exit_sync(fifth)  # a second exit of the same invocation changes nothing
    tracker.exit_async(running_async)
    snap = tracker.snapshot()
    assert (snap.inflight_sync, snap.inflight_async, snap.peak_sync, snap.peak_total) == (
        0,
        0,
        5,
        6,
    )


def test_a_pool_thread_reports_its_pool_and_name() -> None:
    """On a ThreadPoolExecutor thread the start carries the real pool size and thread name."""
    tracker = ConcurrencyTracker()
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="fn-pool") as pool:
        start = pool.submit(tracker.enter_sync).result(10)
    assert start.pool_size == 3
    assert start.pool_source == "executor"
    assert start.pool_queued == 0
    assert start.thread_name.startswith("fn-pool")
    outside = tracker.enter_sync()
    assert outside.pool_queued is None
    assert outside.thread_name == threading.current_thread().name


def test_saturation_means_every_thread_runs_an_invocation_and_work_waits() -> None:
    """A backlog beside a pool thread that runs no invocation is not saturation; all busy is.

    Two threads, four invocations queued at once: while only the first runs (the second
    thread is started but holds no invocation), two more wait yet nothing is saturated; once
    both threads run one, the same backlog is saturation and the sentence states it exactly.
    """
    tracker = ConcurrencyTracker()
    gates = [threading.Event() for _ in range(4)]
    entered = [threading.Event() for _ in range(4)]
    release = threading.Event()
    starts: dict[int, InvocationStart] = {}

    def invocation(index: int) -> None:
        assert gates[index].wait(30)
        starts[index] = tracker.enter_sync()
        entered[index].set()
        try:
            assert release.wait(30)
        finally:
            tracker.exit_sync(starts[index])

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(invocation, index) for index in range(4)]
        try:
            gates[0].set()
            assert entered[0].wait(30)
            gates[1].set()
            assert entered[1].wait(30)
        finally:
            release.set()
            for gate in gates:
                gate.set()
        for future in futures:
            future.result(30)
    first, second = starts[0], starts[1]
    assert (first.inflight_sync, first.pool_size, first.pool_queued) == (1, 2, 2)
    assert first.pool_grown is True
    assert first.saturated is False
    assert (second.inflight_sync, second.pool_queued, second.saturated) == (2, 2, True)
    assert saturation_summary(second) == (
        "The worker's thread pool is saturated: all 2 of its threads are running sync "
        "invocations and 2 more invocations are waiting for one (pool size 2, from the pool "
        "itself)."
    )
    assert tracker.snapshot().saturated_invocations >= 1


@pytest.mark.parametrize(
    ("size", "source", "queued", "expected"),
    [
        (
            1,
            "executor",
            1,
            "its only thread is running a sync invocation and 1 more invocation is waiting "
            "for it (pool size 1, from the pool itself).",
        ),
        (
            4,
            "executor",
            1,
            "all 4 of its threads are running sync invocations and 1 more invocation is "
            "waiting for one (pool size 4, from the pool itself).",
        ),
        (
            3,
            "app_setting",
            None,
            "all 3 of its threads are running sync invocations (pool size 3, from "
            "PYTHON_THREADPOOL_THREAD_COUNT).",
        ),
    ],
)
def test_saturation_sentence_is_grammatical(
    size: int, source: str, queued: int | None, expected: str
) -> None:
    """Singular and plural agree with the figures, and an unseen backlog is not invented."""
    start = InvocationStart(size, 0, size, source, queued, True, True, "t", 0)
    assert saturation_summary(start) == "The worker's thread pool is saturated: " + expected


def _request(trigger: str | None, status: int | None, failed: bool) -> RequestItem:
    context = InvocationContext("id", "fn", "0" * 31 + "1", "1" * 16, "1" * 16)
    start = InvocationStart(1, 0, 4, "executor", 0, True, False, "t", 0)
    retry: Any = None
    return RequestItem(
        context, 0.0, 1, status, failed, None, False, "sync", start, None, retry, trigger
    )


@pytest.mark.parametrize(
    ("trigger", "status", "failed", "code", "success"),
    [
        ("httpTrigger", 201, False, "201", True),
        ("httpTrigger", None, False, "200", True),
        ("httpTrigger", 503, False, "503", False),
        ("httpTrigger", 200, True, "500", False),
        ("queueTrigger", None, False, "0", True),
        ("queueTrigger", None, True, "1", False),
        (None, 204, False, "204", True),
        (None, 204, True, "1", False),
    ],
)
def test_response_code_and_success_follow_the_trigger(
    trigger: str | None, status: int | None, failed: bool, code: str, success: bool
) -> None:
    """HTTP rows carry the HTTP status (500 when raised); others 0/1 unless a status is given."""
    item = _request(trigger, status, failed)
    assert item.response_code == code
    assert item.success is success


def test_a_retry_count_that_cannot_be_read_is_left_out() -> None:
    """A retry context whose count raises or is not an int yields no retry_count."""

    class Broken:
        @property
        def retry_count(self) -> int:
            raise RuntimeError("unavailable")

    class Odd:
        retry_count = "3"

    for retry in (Broken(), Odd(), None):
        assert _request(None, None, False)._replace(retry=retry).retry_count is None
    assert (
        _request(None, None, False)._replace(retry=type("R", (), {"retry_count": 2})()).retry_count
        == 2
    )
