"""Delivery to Application Insights: retries, backoff, partial success, redirects, storage.

What opencensus-ext-azure's transport gets wrong, and this exporter does instead:

* ``Retry-After`` (seconds or an HTTP date) is honoured; other retryable failures back off
  exponentially with jitter, in memory first and then in local storage.
* A refused connection or a timeout is retried whatever statsbeat is set to.
* A ``206`` resends only the items that failed with a retryable status.
* The track URL never gets a doubled slash; ``307``/``308`` move to the new endpoint.
* Nothing here ever runs in the caller's thread, and an exit never waits on a hung endpoint:
  :meth:`persist_pending` saves a batch still in flight from the exiting thread.

Delivery is at-least-once: an item can arrive twice when the endpoint accepted it but the answer
was lost (timeout, connection reset), or when an exit persisted a batch that was still in flight.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..config import TelemetryConfig, default_storage_path
from ..connection import track_url
from ..diagnostics import RateLimitedWarning, warn_once
from ..sanitize import safe_str
from ..stats import DeliveryStats
from . import Envelope
from .http import HttpReply, HttpSender, TransportError
from .storage import PersistentStore, has_blobs

__all__ = ["AzureMonitorExporter", "classify_reply", "retry_after_s"]

RETRYABLE_STATUSES = frozenset({401, 403, 408, 429, 500, 502, 503, 504})
_MAX_REDIRECTS = 10
_MAX_RETRY_AFTER_S = 600.0
_DRAIN_BLOBS_PER_PASS = 20


@dataclass
class Verdict:
    """What one answer means for the batch that was sent."""

    accepted: int = 0
    retry: list[Envelope] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    retry_after_s: float | None = None
    problem: str = ""


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` as seconds or as an HTTP date; ``None`` when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def classify_reply(reply: HttpReply, envelopes: Sequence[Envelope]) -> Verdict:
    """Decide, item by item where the service says, what is accepted, retried or dropped."""
    verdict = Verdict(retry_after_s=retry_after_s(reply.headers.get("retry-after")))
    status = reply.status
    errors = _item_errors(reply.body, len(envelopes))
    if errors is None and 200 <= status < 300:
        # The service always answers in JSON; anything else came from something in between
        # (a proxy, a captive portal) and proves nothing was ingested.
        verdict.retry = list(envelopes)
        verdict.problem = f"status {status} with a body that is not the service's JSON"
        return verdict
    if errors is not None and (200 <= status < 300 or status == 400):
        failed = {index: code for index, code, _ in errors}
        messages = {code: message for _, code, message in errors}
        for index, envelope in enumerate(envelopes):
            code = failed.get(index)
            if code is None:
                verdict.accepted += 1
            elif code in RETRYABLE_STATUSES:
                verdict.retry.append(envelope)
            else:
                cause = f"status_{code}"
                verdict.dropped[cause] = verdict.dropped.get(cause, 0) + 1
                verdict.problem = f"item status {code}: {messages.get(code, '')}"
        return verdict
    if status in RETRYABLE_STATUSES:
        verdict.retry = list(envelopes)
        verdict.problem = f"status {status}"
        return verdict
    verdict.dropped[f"status_{status}"] = len(envelopes)
    verdict.problem = f"status {status}: {reply.body[:200].decode('utf-8', 'replace')}"
    return verdict


def _item_errors(body: bytes, count: int) -> list[tuple[int, int, str]] | None:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("errors", []), list):
        return None
    result = []
    for error in parsed.get("errors", []):
        if not isinstance(error, dict):
            continue
        index, code = error.get("index"), error.get("statusCode")
        if isinstance(index, int) and isinstance(code, int) and 0 <= index < count:
            result.append((index, code, safe_str(error.get("message", ""))))
    return result


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
        self._closed = False

    # -- Exporter protocol --------------------------------------------------------------

    def export(self, envelopes: Sequence[Envelope]) -> None:
        """Send now, or queue behind held batches while the endpoint is backing off."""
        if not envelopes:
            return
        if self._closed:
            self._persist(list(envelopes), cause="closed")
            return
        if self._held or time.monotonic() < self._blocked_until:
            self._hold(list(envelopes), 0)
            return
        self._send(list(envelopes), 0)

    def maintain(self, now: float) -> None:
        """Retry held batches when their backoff is over; drain local storage when healthy."""
        while self._held and now >= self._blocked_until and not self._closed:
            with self._lock:
                held = self._held.popleft()
                self._held_count -= len(held.envelopes)
            if held.attempts:
                self._stats.add_retried(len(held.envelopes))
            self._send(held.envelopes, held.attempts)
            now = time.monotonic()
        if not self._held and now >= self._blocked_until and now >= self._next_drain:
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
            count = self._held_count + len(self._in_flight or ())
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
        if in_flight:
            batches.append(in_flight)
        if extra:
            batches.append(list(extra))
        saved = 0
        for batch in batches:
            if self._persist(batch, cause="exit"):
                saved += len(batch)
        return saved

    def close(self) -> None:
        """Stop retrying and drop the connection (a blocked send fails at once)."""
        self._closed = True
        self._sender.abort()
        if self._store is not None:
            self._store.close()

    # -- delivery -------------------------------------------------------------------------

    def _send(self, envelopes: list[Envelope], attempts: int) -> bool:
        """One delivery attempt; returns whether the endpoint looked healthy."""
        with self._lock:
            self._in_flight = envelopes
        try:
            verdict = self._post(envelopes)
        finally:
            with self._lock:
                taken = self._in_flight is not envelopes
                self._in_flight = None
        if taken:
            # persist_pending() saved this batch while the request hung; it owns it now.
            return False
        self._stats.add_sent(verdict.accepted)
        for cause, count in verdict.dropped.items():
            self._stats.add_dropped(cause, count)
            warn_once(
                f"drop:{cause}",
                "Application Insights rejected %d item(s) (%s); they cannot be retried and are "
                "dropped. Later rejections for the same cause are counted in "
                "azfunc_telemetry.stats().",
                count,
                verdict.problem,
            )
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
        body = json.dumps(envelopes, ensure_ascii=False, default=safe_str).encode("utf-8")
        for _ in range(_MAX_REDIRECTS):
            try:
                reply = self._sender.post(self._url, body)
            except TransportError as exc:
                return Verdict(retry=list(envelopes), problem=f"no answer: {exc}")
            if reply.status in (307, 308):
                location = reply.headers.get("location", "")
                parts = urlsplit(location)
                if parts.scheme in ("http", "https") and parts.netloc:
                    self._url = track_url(f"{parts.scheme}://{parts.netloc}")
                    continue
                return Verdict(
                    dropped={"bad_redirect": len(envelopes)},
                    problem=f"redirect without a usable Location ({location[:100]!r})",
                )
            return classify_reply(reply, envelopes)
        return Verdict(dropped={"redirect_loop": len(envelopes)}, problem="too many redirects")

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        base = self._config.backoff_base_s * (2 ** (attempts - 1))
        delay = min(self._config.backoff_max_s, base) * random.uniform(0.8, 1.2)
        if retry_after is not None:
            delay = max(retry_after, 0.0)
        return delay

    def _hold(self, envelopes: list[Envelope], attempts: int, *, front: bool = False) -> None:
        if self._held_count + len(envelopes) > self._config.queue_size:
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
            return False
        return store.put(envelopes)

    def _drain_storage(self) -> None:
        store = self._storage(create=False)
        if store is None:
            return
        lease_s = self._config.request_timeout_s + 5.0
        for blob, envelopes in store.leased(_DRAIN_BLOBS_PER_PASS, lease_s):
            verdict = self._post(envelopes)
            self._stats.add_retried(len(envelopes))
            self._stats.add_sent(verdict.accepted)
            for cause, count in verdict.dropped.items():
                self._stats.add_dropped(cause, count)
            if verdict.retry and verdict.accepted == 0 and not verdict.dropped:
                blob.lease(self._config.storage_retry_interval_s)
                self._blocked_until = time.monotonic() + self._backoff(1, verdict.retry_after_s)
                return
            if verdict.retry:
                store.put(verdict.retry)
            store.done(blob)
            if self._closed:
                return


def _without_storage(config: TelemetryConfig) -> TelemetryConfig:
    return config._replace(storage_enabled=False)
