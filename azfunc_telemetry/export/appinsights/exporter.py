"""Delivery to Application Insights: retries, backoff, partial success, redirects, storage.

What opencensus-ext-azure's transport gets wrong, and this exporter does instead:

* ``Retry-After`` (seconds or an HTTP date) is honoured; other retryable failures back off
  exponentially with jitter, in memory first and then in local storage.
* A refused connection or a timeout is retried whatever statsbeat is set to.
* A ``206`` resends only the items that failed with a retryable status.
* The track URL never gets a doubled slash; ``307``/``308`` move to the new endpoint.
* Nothing here ever runs in the caller's thread, and an exit never waits on a hung endpoint:
  :meth:`persist_pending` saves a batch still in flight from the exiting thread.
* A batch's request is written by :meth:`export` and its answer read at the next ``export``
  or ``maintain``, so the export thread builds the next batch during the round trip instead of
  idling through it (one request in flight, answers handled in order).

Delivery is at-least-once: an item can arrive twice when the endpoint accepted it but the answer
was lost (timeout, connection reset), or when an exit persisted a batch that was still in flight.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...config import TelemetryConfig, default_storage_path
from ...connection import track_url
from ...diagnostics import RateLimitedWarning, logger, warn_once
from .. import Envelope
from ..forksafe import importing
from ..stats import DeliveryStats
from .body import serialize_batch
from .http import HttpReply, HttpSender, TransportError
from .replies import Verdict, classify_reply, retry_after_s
from .storage import PersistentStore, has_blobs

__all__ = [
    "HELD_MAX_ITEMS",
    "AzureMonitorExporter",
    "classify_reply",
    "retry_after_s",
    "serialize_batch",
]

#: Envelopes held in memory for a retry (the rest wait in local storage). Built envelopes
#: are larger than queued records, so this stays small whatever the queue's size.
HELD_MAX_ITEMS = 8192
_MAX_REDIRECTS = 10
_DRAIN_BLOBS_PER_PASS = 20


@dataclass
class _Held:
    envelopes: list[Envelope]
    attempts: int


class AzureMonitorExporter:
    """Sends envelopes to the ingestion endpoint named by the connection string."""

    def __init__(
        self,
        config: TelemetryConfig,
        stats: DeliveryStats,
        *,
        sender: HttpSender | None = None,
    ) -> None:
        if config.connection is None:
            raise ValueError("AzureMonitorExporter needs a connection string")
        self._config = config
        self._stats = stats
        self._url = track_url(config.connection.ingestion_endpoint)
        self._sender = sender or HttpSender(config.request_timeout_s, compress=config.gzip)
        self._held: deque[_Held] = deque()
        self._held_count = 0
        self._blocked_until = 0.0
        self._in_flight: list[Envelope] | None = None
        self._lock = threading.Lock()
        self._store: PersistentStore | None = None
        self._next_drain = 0.0
        self._failing = RateLimitedWarning(60.0)
        self._closed = threading.Event()
        #: The stored blob whose items are being sent (leased by this process).
        self._draining: Any = None
        #: The batch (with its attempt count and body) whose answer has not been read yet.
        self._awaiting: tuple[list[Envelope], int, bytes] | None = None
        #: A batch handed to :meth:`export` that waits for the previous answer before it is
        #: sent; :meth:`persist_pending` saves it too, so an exit during a hung answer keeps it.
        self._handed: list[Envelope] | None = None

    # -- Exporter protocol --------------------------------------------------------------

    def export(self, envelopes: Sequence[Envelope]) -> None:
        """Send now, or queue behind held batches while the endpoint is backing off.

        The answer to the previous batch is read first, then this batch's request is written
        and its answer left for the next ``export`` or ``maintain`` to read.
        """
        if not envelopes:
            return
        with self._lock:
            self._handed = list(envelopes)
        self._conclude_awaiting()
        batch = self._take_handed()
        if batch is None:
            return  # persist_pending() saved it while the previous answer hung
        if self._closed.is_set():
            self._persist(batch, cause="closed")
            return
        if self._held or time.monotonic() < self._blocked_until:
            self._hold(batch, 0)
            return
        self._start(batch, 0)

    def _take_handed(self) -> list[Envelope] | None:
        """The batch :meth:`export` was handed, unless :meth:`persist_pending` took it."""
        with self._lock:
            batch, self._handed = self._handed, None
        return batch

    def maintain(self, now: float) -> None:
        """Retry held batches when their backoff is over; drain local storage when healthy.

        Nothing once closed: a drain started then would lease a blob and die with the process,
        keeping it from the next process until the lease ran out.
        """
        self._conclude_awaiting()
        if self._closed.is_set():
            return
        while self._held and now >= self._blocked_until and not self._closed.is_set():
            with self._lock:
                held = self._held.popleft()
                self._held_count -= len(held.envelopes)
                # In flight from the moment it leaves the held list, so an exit saves it.
                self._in_flight = held.envelopes
            if held.attempts:
                self._stats.add_retried(len(held.envelopes))
            self._send(held.envelopes, held.attempts)
            now = time.monotonic()
        if (
            not self._held
            and now >= self._blocked_until
            and now >= self._next_drain
            # The retry interval starts with the first stored item, not with the exporter:
            # items this process stores later are tried from storage at once, as ever.
            and self._storage(create=False) is not None
        ):
            self._next_drain = now + self._config.storage_retry_interval_s
            self._drain_storage()

    def next_due(self) -> float | None:
        """When held batches may be retried, or when storage should be looked at again."""
        if self._held:
            return self._blocked_until
        if self._store is not None and self._store.own_pending():
            return max(self._blocked_until, self._next_drain)
        return None

    def pending(self) -> int:
        """Items held in memory, in flight, or persisted by this process."""
        with self._lock:
            count = self._held_count + len(self._in_flight or ()) + len(self._handed or ())
        if self._store is not None:
            count += self._store.own_pending()
        return count

    def persist_pending(self, extra: Sequence[Envelope] = ()) -> int:
        """Move held batches (one in flight, and ``extra``) to local storage; used at exit."""
        with self._lock:
            batches = [held.envelopes for held in self._held]
            self._held.clear()
            self._held_count = 0
            in_flight, self._in_flight = self._in_flight, None
            handed, self._handed = self._handed, None
        if in_flight:
            batches.append(in_flight)
        if handed:
            batches.append(handed)
        if extra:
            batches.append(list(extra))
        saved = 0
        for batch in batches:
            if self._persist(batch, cause="exit"):
                saved += len(batch)
        if saved and self._store is not None:
            logger.warning(
                "%d telemetry item(s) could not be delivered before exit; they were saved to "
                "local storage in %s, and the next process using that folder sends them.",
                saved,
                self._shown_path(self._store.path),
            )
        return saved

    def _shown_path(self, path: str) -> str:
        """``path`` fit for a log line: the instrumentation key in it is masked."""
        connection = self._config.connection
        if connection is None or not connection.instrumentation_key:
            return path
        return path.replace(connection.instrumentation_key, "<instrumentation key>")

    def close(self) -> None:
        """Stop retrying and drop the connection (a blocked send fails at once).

        A stored blob being sent right now is handed back at once (its lease ended), so the
        next process need not wait for the lease this one can no longer honour.
        """
        self._closed.set()
        self._sender.abort()
        draining = self._draining
        if draining is not None:
            draining.lease(0)
        if self._store is not None:
            self._store.close()

    # -- delivery -------------------------------------------------------------------------

    def _start(self, envelopes: list[Envelope], attempts: int) -> None:
        """Write the request for ``envelopes``; its answer is read by :meth:`_conclude_awaiting`."""
        with self._lock:
            self._in_flight = envelopes
        try:
            body = serialize_batch(envelopes)
            self._sender.send(self._url, body)
        except TransportError as exc:
            self._settle(
                envelopes, attempts, Verdict(retry=list(envelopes), problem=f"no answer: {exc}")
            )
            return
        except BaseException:
            self._release(envelopes)
            raise
        self._awaiting = (envelopes, attempts, body)

    def _conclude_awaiting(self) -> None:
        """Read the answer to the request :meth:`_start` wrote, and act on it."""
        awaiting, self._awaiting = self._awaiting, None
        if awaiting is None:
            return
        envelopes, attempts, body = awaiting
        try:
            try:
                reply = self._sender.receive()
            except TransportError as exc:
                verdict = Verdict(retry=list(envelopes), problem=f"no answer: {exc}")
            else:
                verdict = self._judge(reply, envelopes, body)
        except BaseException:
            self._release(envelopes)
            raise
        self._settle(envelopes, attempts, verdict)

    def _release(self, envelopes: list[Envelope]) -> bool:
        """End ``envelopes``' time in flight; False when :meth:`persist_pending` took them."""
        with self._lock:
            taken = self._in_flight is not envelopes
            self._in_flight = None
        return not taken

    def _send(self, envelopes: list[Envelope], attempts: int) -> bool:
        """One delivery attempt, answer awaited; returns whether the endpoint looked healthy."""
        with self._lock:
            self._in_flight = envelopes
        try:
            verdict = self._post(envelopes)
        except BaseException:
            self._release(envelopes)
            raise
        return self._settle(envelopes, attempts, verdict)

    def _settle(self, envelopes: list[Envelope], attempts: int, verdict: Verdict) -> bool:
        """Count, retry or hold what the answer says; True when the endpoint looked healthy."""
        if not self._release(envelopes):
            # persist_pending() saved this batch while the request hung; it owns it now.
            return False
        self._stats.add_sent(verdict.accepted)
        self._count_drops(verdict)
        if not verdict.retry:
            if verdict.accepted and self._store is not None and self._store.own_pending():
                self._next_drain = 0.0
            return True
        attempts += 1
        delay = self._backoff(attempts, verdict.retry_after_s)
        self._blocked_until = time.monotonic() + delay
        self._failing.warn(
            "Telemetry delivery failed (%s); %d item(s) will be retried in %.1f s.",
            verdict.problem,
            len(verdict.retry),
            delay,
        )
        if attempts >= self._config.max_attempts:
            # The endpoint is down for longer than memory should hold: spill everything.
            self._persist(verdict.retry, cause="retries_exhausted")
            for held in self._take_all_held():
                self._persist(held, cause="retries_exhausted")
        else:
            self._hold(verdict.retry, attempts, front=True)
        return False

    def _post(self, envelopes: list[Envelope]) -> Verdict:
        body = serialize_batch(envelopes)
        try:
            reply = self._sender.post(self._url, body)
        except TransportError as exc:
            return Verdict(retry=list(envelopes), problem=f"no answer: {exc}")
        return self._judge(reply, envelopes, body)

    def _judge(self, reply: HttpReply, envelopes: list[Envelope], body: bytes) -> Verdict:
        """The verdict on an answer, after following ``307``/``308`` to the new endpoint."""
        for redirects in range(1, _MAX_REDIRECTS + 1):
            if reply.status not in (307, 308):
                return classify_reply(reply, envelopes)
            location = reply.headers.get("location", "")
            parts = urlsplit(location)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return Verdict(
                    dropped={"bad_redirect": len(envelopes)},
                    problem=f"redirect without a usable Location ({location[:100]!r})",
                )
            self._url = track_url(f"{parts.scheme}://{parts.netloc}")
            if redirects == _MAX_REDIRECTS:
                break
            try:
                reply = self._sender.post(self._url, body)
            except TransportError as exc:
                return Verdict(retry=list(envelopes), problem=f"no answer: {exc}")
        return Verdict(dropped={"redirect_loop": len(envelopes)}, problem="too many redirects")

    def _count_drops(self, verdict: Verdict) -> None:
        """Count what the answer rejected for good; one warning per cause, not per item."""
        for cause, count in verdict.dropped.items():
            self._stats.add_dropped(cause, count)
            warn_once(
                f"drop:{cause}",
                "Application Insights rejected %d item(s) (%s); they cannot be retried and are "
                "dropped. Later rejections for the same cause are counted in "
                "azfunc_telemetry.stats().",
                count,
                verdict.reasons.get(cause, verdict.problem),
            )

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        base = self._config.backoff_base_s * 2.0 ** (attempts - 1)
        delay = min(self._config.backoff_max_s, base) * random.uniform(0.8, 1.2)
        if retry_after is not None:
            delay = max(retry_after, 0.0)
        return delay

    def _hold(self, envelopes: list[Envelope], attempts: int, *, front: bool = False) -> None:
        if self._held_count + len(envelopes) > min(self._config.queue_size, HELD_MAX_ITEMS):
            self._persist(envelopes, cause="memory_full")
            return
        with self._lock:
            if front:
                self._held.appendleft(_Held(envelopes, attempts))
            else:
                self._held.append(_Held(envelopes, attempts))
            self._held_count += len(envelopes)

    def _take_all_held(self) -> list[list[Envelope]]:
        with self._lock:
            batches = [held.envelopes for held in self._held]
            self._held.clear()
            self._held_count = 0
        return batches

    # -- local storage --------------------------------------------------------------------

    def _storage(self, create: bool) -> PersistentStore | None:
        if self._store is None and self._config.storage_enabled:
            path = default_storage_path(self._config)
            if not create and not has_blobs(path):
                return None
            try:
                with importing():  # opening the store imports opencensus' storage
                    self._store = PersistentStore(
                        path,
                        max_bytes=self._config.storage_max_bytes,
                        retention_s=self._config.storage_retention_s,
                        stats=self._stats,
                    )
            except Exception as exc:
                warn_once("storage", "Local telemetry storage is unavailable (%s).", exc)
                self._config = _without_storage(self._config)
        return self._store

    def _persist(self, envelopes: list[Envelope], *, cause: str) -> bool:
        store = self._storage(create=True)
        if store is None:
            self._stats.add_dropped(f"{cause}_no_storage", len(envelopes))
            warn_once(
                f"drop:{cause}_no_storage",
                "%d telemetry item(s) could not be delivered (%s) and local storage is off; "
                "they are dropped and counted in azfunc_telemetry.stats().",
                len(envelopes),
                cause.replace("_", " "),
            )
            return False
        return store.put(envelopes)

    def _drain_storage(self) -> None:
        store = self._storage(create=False)
        if store is None or self._closed.is_set():
            return
        lease_s = self._config.request_timeout_s + 5.0
        delivered = 0
        for blob, envelopes in store.leased(_DRAIN_BLOBS_PER_PASS, lease_s):
            self._draining = blob
            try:
                verdict = self._post(envelopes)
            finally:
                self._draining = None
            self._stats.add_retried(len(envelopes))
            self._stats.add_sent(verdict.accepted)
            self._count_drops(verdict)
            if verdict.retry and verdict.accepted == 0 and not verdict.dropped:
                store.release(blob)  # retried when the endpoint is back, not when a lease ends
                self._blocked_until = time.monotonic() + self._backoff(1, verdict.retry_after_s)
                return
            if verdict.retry:
                store.put(verdict.retry)
            store.done(blob)
            delivered += 1
            if self._closed.is_set():
                return
        if delivered == _DRAIN_BLOBS_PER_PASS:
            self._next_drain = 0.0  # more may be waiting: carry on at the next turn


def _without_storage(config: TelemetryConfig) -> TelemetryConfig:
    return config._replace(storage_enabled=False)
