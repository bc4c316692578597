"""Local storage for telemetry that could not be delivered yet.

opencensus-ext-azure's ``LocalFileStorage`` does the file work: JSON-lines blobs written
atomically, leases so two processes never send the same blob at once, a size cap and a
retention period. We add what it lacks: an owner-only directory and files, and bookkeeping of
which blobs this process wrote, so ``flush()`` can tell whether our own items are still pending.
The import happens on first use, on the export thread, never at ``import azfunc_telemetry``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..stats import DeliveryStats
from . import Envelope

__all__ = ["PersistentStore", "has_blobs"]


def has_blobs(path: str) -> bool:
    """Whether ``path`` holds stored telemetry, checked without importing anything heavy."""
    try:
        with os.scandir(path) as entries:
            return any(e.name.endswith((".blob", ".lock")) for e in entries)
    except OSError:
        return False


def _blob_key(path: str) -> str:
    return os.path.basename(path).split("@", 1)[0]


class PersistentStore:
    """Owner-only local storage with per-process bookkeeping."""

    def __init__(
        self, path: str, *, max_bytes: int, retention_s: float, stats: DeliveryStats
    ) -> None:
        from opencensus.ext.azure.common.storage import LocalFileStorage

        os.makedirs(path, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        self.path = path
        self._stats = stats
        self._lock = threading.Lock()
        self._own: dict[str, int] = {}
        self._storage: Any = LocalFileStorage(
            path,
            max_size=max_bytes,
            retention_period=int(retention_s),
            source="azfunc_telemetry",
        )

    @property
    def maintenance_thread_ident(self) -> int | None:
        """The storage maintenance thread, whose own log records we must not export."""
        task = getattr(self._storage, "_maintenance_task", None)
        return getattr(task, "ident", None)

    def put(self, envelopes: Sequence[Envelope]) -> bool:
        """Persist ``envelopes``; counts them as persisted, or as dropped when storage is full."""
        if not envelopes:
            return True
        blob = self._storage.put(list(envelopes))
        if blob is None:
            self._stats.add_dropped("storage_full", len(envelopes))
            return False
        with contextlib.suppress(OSError):
            os.chmod(blob.fullpath, 0o600)
        with self._lock:
            self._own[_blob_key(blob.fullpath)] = len(envelopes)
        self._stats.add_persisted(len(envelopes))
        return True

    def leased(self, limit: int, lease_s: float) -> Iterator[tuple[Any, list[Envelope]]]:
        """Up to ``limit`` stored blobs, oldest first, each leased for ``lease_s`` seconds."""
        taken = 0
        for blob in self._storage.gets():
            if taken >= limit:
                return
            if blob.lease(lease_s) is None:
                continue
            envelopes = blob.get()
            if not envelopes:
                blob.delete()
                continue
            taken += 1
            yield blob, list(envelopes)

    def done(self, blob: Any) -> None:
        """The blob was delivered (or dropped for good): remove it."""
        blob.delete()
        with self._lock:
            self._own.pop(_blob_key(blob.fullpath), None)

    def own_pending(self) -> int:
        """Envelopes this process persisted that are still on disk."""
        with self._lock:
            return sum(self._own.values())

    def close(self) -> None:
        """Stop the maintenance thread."""
        with contextlib.suppress(Exception):
            self._storage._maintenance_task.cancel()
