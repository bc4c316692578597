"""The concurrency tracker's counts under real contention, and the request row's derived fields."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from azfunc_telemetry.capture.context import InvocationContext
from azfunc_telemetry.invocation.concurrency import (
    ConcurrencyTracker,
    InvocationStart,
    saturation_summary,
)
from azfunc_telemetry.model.records import RequestItem


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


def test_saturation_is_more_work_than_threads_in_a_real_pool() -> None:
    """Two threads: two running invocations are no saturation; a third queued behind them is.

    Invocations 0 and 1 take both threads; 2 and 3 are queued. When 0 ends, its thread takes
    2 at once: 2 starts with two running and 3 still queued, so one invocation waits, and the
    sentence says exactly that. When 1 ends, 3 starts with nothing queued: no saturation.
    """
    tracker = ConcurrencyTracker()
    entered = [threading.Event() for _ in range(4)]
    release = [threading.Event() for _ in range(4)]
    starts: dict[int, InvocationStart] = {}

    def invocation(index: int) -> None:
        starts[index] = tracker.enter_sync()
        entered[index].set()
        try:
            assert release[index].wait(30)
        finally:
            tracker.exit_sync(starts[index])

    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            futures = [pool.submit(invocation, 0)]
            assert entered[0].wait(30)
            futures.append(pool.submit(invocation, 1))
            assert entered[1].wait(30)
            futures += [pool.submit(invocation, 2), pool.submit(invocation, 3)]
            release[0].set()
            assert entered[2].wait(30)
            release[1].set()
            assert entered[3].wait(30)
        finally:
            for event in release:
                event.set()
        for future in futures:
            future.result(30)
    figures = [
        (s.inflight_sync, s.pool_queued, s.saturated) for s in map(starts.__getitem__, range(4))
    ]
    assert figures == [(1, 0, False), (2, 0, False), (2, 1, True), (2, 0, False)]
    assert saturation_summary(starts[2]) == (
        "The worker's thread pool is saturated: all 2 of its threads are taken and 1 more "
        "invocation is waiting for one (2 running, 1 queued, pool size 2, from the pool itself)."
    )
    assert tracker.snapshot().saturated_invocations == 1


@pytest.mark.parametrize(
    ("size", "source", "running", "queued", "expected"),
    [
        (
            2,
            "executor",
            1,
            3,
            "all 2 of its threads are taken and 2 more invocations are waiting for one "
            "(1 running, 3 queued, pool size 2, from the pool itself).",
        ),
        (
            4,
            "executor",
            3,
            3,
            "all 4 of its threads are taken and 2 more invocations are waiting for one "
            "(3 running, 3 queued, pool size 4, from the pool itself).",
        ),
        (
            1,
            "executor",
            1,
            1,
            "its only thread is taken and 1 more invocation is waiting for it "
            "(1 running, 1 queued, pool size 1, from the pool itself).",
        ),
        (
            3,
            "app_setting",
            3,
            None,
            "all 3 of its threads are running sync invocations (pool size 3, from "
            "PYTHON_THREADPOOL_THREAD_COUNT).",
        ),
    ],
)
def test_saturation_sentence_agrees_with_its_figures(
    size: int, source: str, running: int, queued: int | None, expected: str
) -> None:
    """The reported cases: the waiting count is the pool's excess work, singular or plural.

    A 2-thread pool with 1 running and 3 queued has 2 waiting (a free thread takes one at
    once), not 3; a 4-thread pool with 3 running and 3 queued has 2 waiting.
    """
    start = InvocationStart(running, 0, size, source, queued, True, True, "t", 0)
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
