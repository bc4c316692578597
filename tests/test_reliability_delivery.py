"""Delivery under faults: every answer the ingestion endpoint can give, over real HTTP.

Each test points the library at an :class:`IngestionEmulator` on 127.0.0.1, scripts the fault
and waits for the outcome (the emulator's records, ``flush()``), never on bare sleeps.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import messages
from procs.launch import fast_setup, wait_until

import azfunc_telemetry
from azfunc_telemetry.testing import IngestionEmulator, RecordedRequest, ScriptedResponse

log = logging.getLogger("app.delivery")

pytestmark = pytest.mark.usefixtures("info_logging")


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "store"


def item_messages(request: RecordedRequest) -> list[str]:
    """The log messages one request carried."""
    return messages(request.json())


def has_messages(*expected: str) -> Any:
    """A ``wait_for`` predicate: every one of ``expected`` arrived."""
    return lambda envelopes: set(expected) <= set(messages(envelopes))


def one_batch(emulator: IngestionEmulator, texts: list[str], answer: ScriptedResponse) -> None:
    """Log ``texts`` so that they travel in one request, and have it answered ``answer``.

    A first record's request is held open by the emulator while the others are queued, so the
    export thread finds them all in the queue at once. The held request is answered 200.
    """
    emulator.script(ScriptedResponse(hang=True), answer)
    log.info("batch opener")
    emulator.wait_for_requests(1)
    for text in texts:
        log.info(text)
    emulator.release()


class WarningsOf(logging.Handler):
    """Collects the library's own warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def library_warnings() -> Iterator[WarningsOf]:
    handler = WarningsOf()
    logger = logging.getLogger("azfunc_telemetry")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429, 401, 403])
def test_retryable_status_is_retried_with_growing_backoff(
    emulator: IngestionEmulator, storage: Path, status: int
) -> None:
    """A retryable status is retried with exponential backoff until it is accepted, once."""
    fast_setup(emulator.connection_string, storage, max_attempts=5)
    emulator.script(ScriptedResponse(status=status), ScriptedResponse(status=status))
    log.info("retry me %d", status)
    assert azfunc_telemetry.flush(5.0)
    first, second, third = emulator.requests[:3]
    assert [first.status, second.status, third.status] == [status, status, 200]
    # backoff_base_s=0.05 with +-20 % jitter: 0.04..0.06 s, then 0.08..0.12 s.
    assert second.received_at - first.received_at >= 0.04
    assert third.received_at - second.received_at >= 0.08
    assert messages(emulator.envelopes) == [f"retry me {status}"]
    counters = azfunc_telemetry.stats()
    assert (counters.sent, counters.retried, counters.dropped) == (1, 2, 0)


@pytest.mark.slow
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(
    emulator: IngestionEmulator, storage: Path, status: int
) -> None:
    """``Retry-After: 1`` delays the retry by at least one second (not the 0.05 s backoff)."""
    fast_setup(emulator.connection_string, storage)
    emulator.script(ScriptedResponse(status=status, headers={"Retry-After": "1"}))
    log.info("throttled")
    assert azfunc_telemetry.flush(5.0)
    throttled, retried = emulator.requests[:2]
    assert 1.0 <= retried.received_at - throttled.received_at < 2.5
    assert messages(emulator.envelopes) == ["throttled"]


@pytest.mark.slow
def test_retry_after_as_http_date_is_honoured(emulator: IngestionEmulator, storage: Path) -> None:
    """``Retry-After: <HTTP date>`` delays the retry until that moment."""
    fast_setup(emulator.connection_string, storage)
    not_before = int(time.time()) + 2  # HTTP dates have one-second resolution
    header = email.utils.formatdate(not_before, usegmt=True)
    emulator.script(ScriptedResponse(status=429, headers={"Retry-After": header}))
    wall_minus_monotonic = time.time() - time.monotonic()
    log.info("throttled until a date")
    assert azfunc_telemetry.flush(6.0)
    retried = emulator.requests[1]
    assert retried.received_at + wall_minus_monotonic >= not_before - 0.05
    assert retried.received_at + wall_minus_monotonic < not_before + 1.5
    assert messages(emulator.envelopes) == ["throttled until a date"]


@pytest.mark.slow
def test_items_logged_during_backoff_wait_and_arrive_in_order(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """While the endpoint asks to wait, new items queue behind the held ones, not around them."""
    fast_setup(emulator.connection_string, storage)
    emulator.script(ScriptedResponse(status=503, headers={"Retry-After": "1"}))
    log.info("first")
    emulator.wait_for_requests(1)
    log.info("second")
    assert azfunc_telemetry.flush(5.0)
    assert messages(emulator.envelopes) == ["first", "second"]
    assert all(
        r.received_at - emulator.requests[0].received_at >= 1.0 for r in emulator.requests[1:]
    )


def test_connection_refused_is_retried_then_persisted_and_delivered_when_back(
    storage: Path,
) -> None:
    """An endpoint that refuses connections: retries in memory, then disk, then delivery."""
    with IngestionEmulator() as first:
        port = first.port
        connection_string = first.connection_string
    fast_setup(connection_string, storage, max_attempts=3)
    log.info("during outage")
    wait_until(lambda: azfunc_telemetry.stats().persisted == 1)
    counters = azfunc_telemetry.stats()
    assert counters.retried >= 2  # two in-memory retries before storage
    assert counters.persisted == 1
    assert counters.dropped == 0
    with IngestionEmulator(port=port) as back:
        back.wait_for(has_messages("during outage"), timeout=5.0)
        assert azfunc_telemetry.flush(5.0)
        assert messages(back.envelopes) == ["during outage"]
    assert azfunc_telemetry.stats().pending == 0
    assert not list(storage.glob("*.blob"))
    assert not list(storage.glob("*.lock"))


def test_hung_endpoint_times_out_and_is_retried(emulator: IngestionEmulator, storage: Path) -> None:
    """A request that gets no answer is abandoned after request_timeout_s and sent again."""
    fast_setup(emulator.connection_string, storage, request_timeout_s=0.3)
    emulator.script(ScriptedResponse(hang=True))
    log.info("answer me")
    assert azfunc_telemetry.flush(5.0)
    hung, retried = emulator.requests[:2]
    # The retry leaves request_timeout_s (0.3 s) plus a backoff after the hung request was
    # sent. Both times are the emulator's, and its thread may read the hung request late on a
    # busy machine, so the bound keeps 0.1 s of room: what matters is that the sender waited
    # for the timeout instead of giving up at once.
    assert retried.received_at - hung.received_at >= 0.2
    # The hung request was never answered, so the item is stored exactly once.
    assert messages(emulator.envelopes) == ["answer me"]


@pytest.mark.parametrize(
    ("status", "body", "copies"),
    [(200, b"<html>captive portal</html>", 2), (502, b"<html>Bad gateway</html>", 1)],
)
def test_reply_that_is_not_json_is_retried(
    emulator: IngestionEmulator, storage: Path, status: int, body: bytes, copies: int
) -> None:
    """An answer that is not the service's JSON (a proxy's page) proves nothing: retry.

    When something in between did pass the batch on, that retry is a duplicate (at-least-once).
    """
    fast_setup(emulator.connection_string, storage)
    emulator.script(ScriptedResponse(status=status, body=body))
    log.info("through a proxy")
    assert azfunc_telemetry.flush(5.0)
    first, second = emulator.requests[:2]
    assert (first.status, second.status) == (status, 200)
    assert item_messages(second) == ["through a proxy"]
    assert messages(emulator.envelopes) == ["through a proxy"] * copies


def test_connection_closed_without_answer_is_retried(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """A connection dropped before the answer is a transport failure: retry."""
    fast_setup(emulator.connection_string, storage)
    emulator.script(ScriptedResponse(close_without_response=True))
    log.info("reset")
    assert azfunc_telemetry.flush(5.0)
    assert messages(emulator.envelopes) == ["reset"]
    assert azfunc_telemetry.stats().retried == 1


def test_outage_longer_than_memory_retries_is_persisted_then_delivered(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """500s that outlast max_attempts move the batch to disk; it is sent once they stop."""
    failing = threading.Event()
    failing.set()
    emulator.respond_with(lambda _: ScriptedResponse(status=500) if failing.is_set() else None)
    fast_setup(emulator.connection_string, storage, max_attempts=2)
    for index in range(5):
        log.info("outage %d", index)
    wait_until(lambda: azfunc_telemetry.stats().persisted == 5)
    assert emulator.envelopes == []
    failing.clear()
    expected = [f"outage {index}" for index in range(5)]
    emulator.wait_for(has_messages(*expected), timeout=5.0)
    assert azfunc_telemetry.flush(5.0)
    assert sorted(messages(emulator.envelopes)) == expected
    assert azfunc_telemetry.stats().pending == 0


def test_partial_success_resends_only_failed_retryable_items(
    emulator: IngestionEmulator, storage: Path, library_warnings: WarningsOf
) -> None:
    """206: accepted items are never resent, retryable ones are, rejected ones are counted."""
    fast_setup(emulator.connection_string, storage, request_timeout_s=5.0)
    one_batch(
        emulator,
        ["accepted a", "server error", "invalid", "throttled", "accepted b"],
        ScriptedResponse(status=206, item_statuses=[200, 500, 400, 429, 200]),
    )
    assert not azfunc_telemetry.flush(5.0)  # one item was lost, so flush says so
    partial, resend = emulator.requests[1:3]
    assert item_messages(partial) == [
        "accepted a",
        "server error",
        "invalid",
        "throttled",
        "accepted b",
    ]
    assert item_messages(resend) == ["server error", "throttled"]
    assert sorted(messages(emulator.envelopes)) == [
        "accepted a",
        "accepted b",
        "batch opener",
        "server error",
        "throttled",
    ]
    counters = azfunc_telemetry.stats()
    assert counters.dropped_by_cause == {"status_400": 1}
    assert counters.sent == 5
    assert sum("status 400" in text for text in library_warnings.texts()) == 1


@pytest.mark.parametrize("status", [400, 402, 404, 413, 439])
def test_non_retryable_answer_drops_counts_and_warns_once_per_cause(
    emulator: IngestionEmulator, storage: Path, library_warnings: WarningsOf, status: int
) -> None:
    """A non-retryable answer drops the batch, counts every item, and warns once, not per item."""
    emulator.respond_with(lambda _: ScriptedResponse(status=status))
    fast_setup(emulator.connection_string, storage)
    for index in range(3):
        log.info("rejected %d", index)
        assert not azfunc_telemetry.flush(5.0)
    counters = azfunc_telemetry.stats()
    assert counters.dropped_by_cause == {f"status_{status}": 3}
    assert counters.retried == 0
    assert counters.persisted == 0
    assert len(emulator.requests) == 3  # never retried
    warned = [text for text in library_warnings.texts() if f"status {status}" in text]
    assert len(warned) == 1
    assert "azfunc_telemetry.stats()" in warned[0]


def test_each_rejection_cause_gets_its_own_single_warning(
    emulator: IngestionEmulator, storage: Path, library_warnings: WarningsOf
) -> None:
    """Two causes, several batches each: exactly two warnings."""
    emulator.script(*(ScriptedResponse(status=s) for s in (400, 402, 400, 402)))
    fast_setup(emulator.connection_string, storage)
    for index in range(4):
        log.info("batch %d", index)
        azfunc_telemetry.flush(5.0)
    assert azfunc_telemetry.stats().dropped_by_cause == {"status_400": 2, "status_402": 2}
    rejected = [text for text in library_warnings.texts() if "rejected" in text]
    assert len(rejected) == 2


def test_whole_batch_400_naming_only_the_first_item_drops_every_item(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """A 400 whose errors name only item 0 (an undecodable batch) accepted nothing: all dropped."""
    document = {
        "itemsReceived": 0,
        "itemsAccepted": 0,
        "errors": [{"index": 0, "statusCode": 400, "message": "Invalid JSON"}],
    }
    fast_setup(emulator.connection_string, storage, request_timeout_s=5.0)
    answer = ScriptedResponse(
        status=400, body=json.dumps(document).encode(), headers={"Content-Type": "application/json"}
    )
    one_batch(emulator, ["a", "b", "c"], answer)
    assert not azfunc_telemetry.flush(5.0)
    counters = azfunc_telemetry.stats()
    assert counters.dropped_by_cause == {"status_400": 3}
    assert counters.sent == 1  # the batch opener only


@pytest.mark.parametrize("status", [307, 308])
def test_redirect_moves_to_the_new_endpoint(
    emulator: IngestionEmulator, storage: Path, status: int
) -> None:
    """307/308 with a Location: the item and every later one go to the new endpoint."""
    with IngestionEmulator() as moved:
        emulator.script(
            ScriptedResponse(status=status, headers={"Location": moved.endpoint + "/v2.1/track"})
        )
        fast_setup(emulator.connection_string, storage)
        log.info("redirected")
        assert azfunc_telemetry.flush(5.0)
        log.info("after the move")
        assert azfunc_telemetry.flush(5.0)
        assert messages(moved.envelopes) == ["redirected", "after the move"]
        assert [r.path for r in moved.requests] == ["/v2.1/track", "/v2.1/track"]
    assert len(emulator.requests) == 1
    assert emulator.envelopes == []


def test_redirect_without_location_is_dropped_and_counted(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """A redirect that names no usable endpoint cannot be followed: counted as a drop."""
    emulator.script(ScriptedResponse(status=307))
    fast_setup(emulator.connection_string, storage)
    log.info("nowhere to go")
    assert not azfunc_telemetry.flush(5.0)
    assert azfunc_telemetry.stats().dropped_by_cause == {"bad_redirect": 1}


def test_stats_report_sent_retried_persisted_and_dropped(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """stats() exposes every counter the reliability story needs, in items."""
    fast_setup(emulator.connection_string, storage, max_attempts=1)
    emulator.script(ScriptedResponse(status=400), ScriptedResponse(status=503))
    log.info("dropped")
    azfunc_telemetry.flush(5.0)
    log.info("persisted then sent")
    emulator.wait_for(has_messages("persisted then sent"), timeout=5.0)
    log.info("sent")
    assert azfunc_telemetry.flush(5.0)
    counters = azfunc_telemetry.stats()
    assert counters.sent == 2
    assert counters.persisted == 1
    assert counters.retried == 1
    assert counters.dropped == 1
    assert counters.dropped_by_cause == {"status_400": 1}
    assert counters.queued == 0
    assert counters.pending == 0


@pytest.mark.slow
def test_answer_lost_after_ingestion_is_a_duplicate(
    emulator: IngestionEmulator, storage: Path
) -> None:
    """At-least-once: when the endpoint ingests but its answer comes too late, the retry
    delivers the item a second time."""
    fast_setup(emulator.connection_string, storage, request_timeout_s=0.3)
    emulator.script(ScriptedResponse(delay_s=1.0))
    log.info("sent twice")
    assert azfunc_telemetry.flush(5.0)
    emulator.wait_for(lambda envelopes: len(messages(envelopes)) == 2, timeout=5.0)
    assert messages(emulator.envelopes) == ["sent twice", "sent twice"]
