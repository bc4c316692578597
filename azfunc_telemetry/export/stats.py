"""Delivery counters: what was sent, retried, persisted and lost, and why.

Counted by the export thread (and by ``emit()`` for a full queue, through an atomic counter),
exposed through :func:`azfunc_telemetry.stats` so a user can see whether telemetry is lost.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

__all__ = ["DeliveryStats", "TelemetryStats"]


#: The causes of a snapshot without drops: one empty mapping that nothing can change.
_NO_DROPS: Mapping[str, int] = MappingProxyType({})


class TelemetryStats(NamedTuple):
    """A snapshot of the delivery counters (items, not batches); it never changes once taken.

    A named tuple rather than a frozen dataclass: just as immutable, and it keeps
    ``dataclasses`` (and ``inspect``) off the import path of every function app.

    Attributes:
        queued: items waiting in memory for the export thread now.
        sent: items the ingestion endpoint accepted.
        retried: items sent again after a retryable failure (from memory or local storage).
        persisted: items written to local storage because delivery kept failing.
        dropped: items lost for good; ``dropped_by_cause`` says why.
        pending: items handed to the exporter and not yet accepted (held or persisted).
        dropped_by_cause: ``dropped`` by cause (``queue_full``, ``status_400``, ...); a copy
            of the counters' own, made for this snapshot (an empty read-only mapping when the
            snapshot was built without one).
    """

    queued: int
    sent: int
    retried: int
    persisted: int
    dropped: int
    pending: int
    dropped_by_cause: Mapping[str, int] = _NO_DROPS


class DeliveryStats:
    """Mutable counters shared by the queue, the pipeline and the exporter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.retried = 0
        self.persisted = 0
        self._drops: Counter[str] = Counter()
        # Incremented from emit() without a lock: next() on itertools.count is atomic. Reading
        # it takes a value too, so the reads are counted and subtracted (under their own lock).
        self._queue_full = itertools.count()
        self._queue_full_reads = 0
        self._read_lock = threading.Lock()

    def queue_full(self) -> None:
        """One item did not fit in the queue (hot path: lock-free)."""
        next(self._queue_full)

    def after_shutdown(self) -> None:
        """One item arrived after ``shutdown()``: it cannot be delivered any more."""
        self.add_dropped("after_shutdown", 1)

    def add_sent(self, count: int) -> None:
        """``count`` items were accepted."""
        with self._lock:
            self.sent += count

    def add_retried(self, count: int) -> None:
        """``count`` items are being sent again."""
        with self._lock:
            self.retried += count

    def add_persisted(self, count: int) -> None:
        """``count`` items went to local storage."""
        with self._lock:
            self.persisted += count

    def add_dropped(self, cause: str, count: int) -> None:
        """``count`` items are lost for good because of ``cause``."""
        if count:
            with self._lock:
                self._drops[cause] += count

    def queue_full_count(self) -> int:
        """How many items a full queue turned away."""
        with self._read_lock:
            taken = next(self._queue_full) - self._queue_full_reads
            self._queue_full_reads += 1
        return taken

    def dropped_total(self) -> int:
        """Every item lost, whatever the cause."""
        with self._lock:
            return sum(self._drops.values()) + self.queue_full_count()

    def snapshot(self, *, queued: int, pending: int) -> TelemetryStats:
        """Freeze the counters, adding the caller's view of the queue and the exporter."""
        with self._lock:
            causes = dict(self._drops)
            sent, retried, persisted = self.sent, self.retried, self.persisted
        full = self.queue_full_count()
        if full:
            causes["queue_full"] = full
        return TelemetryStats(
            queued=queued,
            sent=sent,
            retried=retried,
            persisted=persisted,
            dropped=sum(causes.values()),
            pending=pending,
            dropped_by_cause=causes,
        )
