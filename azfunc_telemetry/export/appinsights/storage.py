"""Local storage for telemetry that could not be delivered yet.

The files are those of opencensus-ext-azure's ``LocalFileStorage``: JSON-lines blobs named
``<UTC time>-<random>.blob``, renamed to ``...@<lease end>.lock`` while a process sends them, so
two processes (or a process and its successor) never send the same blob at once. Listing,
leasing, reading and deleting go through opencensus' public API (``LocalFileStorage.gets()``,
``LocalFileBlob.lease()``/``get()``/``delete()``); writing, the size cap and retention are done
here, because opencensus gets them wrong for us:

* its files are created with the process umask (we create them ``0o600`` in a ``0o700``
  directory we own);
* its size check runs before a write, so a full store still accepts one more batch of any size
  (our cap is exact: a blob is written only when it fits);
* its retention deletes blobs silently (we count the items as ``storage_expired``);
* its constructor starts a maintenance thread, which cannot start at interpreter exit on
  Python 3.12+: it is only built to read (never at exit), and writing does not need it.

Several processes may share one folder. A blob this process wrote counts as pending only while
it is still on disk, so when another process sends it, ``flush()`` here stops waiting for it.

The import of opencensus happens on first use, on the export thread, never at
``import azfunc_telemetry``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ...diagnostics import warn_once
from ...model.scrubbing import safe_str
from .. import Envelope
from ..forksafe import importing
from ..stats import DeliveryStats

__all__ = ["PersistentStore", "has_blobs"]

_TIME_FORMAT = "%Y-%m-%dT%H%M%S.%f"
_TIME_LENGTH = len("2000-01-01T000000.000000")
#: ``LocalFileStorage`` also expires blobs, silently; it is given this much longer so that our
#: counting sweep always gets there first.
_OPENCENSUS_RETENTION_SLACK_S = 3600
_SWEEP_INTERVAL_S = 1.0
#: How long every listing must miss a blob of ours before it counts as gone (sent or deleted
#: by another process): a rename during a listing hides a file only for that listing.
_GONE_AFTER_S = 0.5


def has_blobs(path: str) -> bool:
    """Whether ``path`` holds stored telemetry, checked without importing anything heavy."""
    try:
        with os.scandir(path) as entries:
            return any(e.name.endswith((".blob", ".lock")) for e in entries)
    except OSError:
        return False


def _blob_key(path: str) -> str:
    return os.path.basename(path).split("@", 1)[0]


def _utc_stamp(moment: datetime) -> str:
    return moment.strftime(_TIME_FORMAT)


def _prepare_directory(path: str) -> None:
    """Create ``path`` owner-only, and refuse a directory someone else controls."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    getuid = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        raise PermissionError(f"{path} belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def _open_for_reading(path: str, max_bytes: int, retention_s: int) -> Any:
    """opencensus' ``LocalFileStorage`` for ``path``, or ``None`` when it cannot start now.

    Its maintenance thread cannot be started at interpreter exit (``RuntimeError``), when
    nothing is read anyway; the next process reads what is left.
    """
    with importing():  # on the export thread: no fork may split this import
        from opencensus.ext.azure.common.storage import LocalFileStorage

    try:
        return LocalFileStorage(
            path, max_size=max_bytes, retention_period=retention_s, source="azfunc-telemetry"
        )
    except RuntimeError:
        return None


class PersistentStore:
    """Owner-only local storage with an exact size cap, counted retention and bookkeeping of
    which blobs this process wrote (so ``flush()`` can tell whether its items are pending)."""

    def __init__(
        self, path: str, *, max_bytes: int, retention_s: float, stats: DeliveryStats
    ) -> None:
        _prepare_directory(path)
        self.path = os.path.abspath(path)
        self._max_bytes = max_bytes
        self._retention_s = retention_s
        self._stats = stats
        self._lock = threading.Lock()
        self._own: dict[str, int] = {}
        #: When listings started to miss a blob of ``_own`` (see :meth:`own_pending`).
        self._missing_since: dict[str, float] = {}
        self._next_sweep = 0.0
        #: opencensus' storage, opened when first read (see :func:`_open_for_reading`).
        self._reader: Any = None

    def put(self, envelopes: Sequence[Envelope]) -> bool:
        """Persist ``envelopes``; counts them as persisted, or as dropped when storage is full."""
        if not envelopes:
            return True
        self.sweep()
        # ASCII JSON: a lone surrogate (from undecodable bytes) cannot make the write fail.
        payload = "".join(json.dumps(e, default=safe_str) + "\n" for e in envelopes).encode()
        used = self._used_bytes()
        if used + len(payload) > self._max_bytes:
            self._stats.add_dropped("storage_full", len(envelopes))
            warn_once(
                "drop:storage_full",
                "Local telemetry storage is full (%d of %d bytes, setting "
                "AZFUNC_TELEMETRY_STORAGE_MAX_BYTES); undeliverable items are dropped and "
                "counted in azfunc_telemetry.stats().",
                used,
                self._max_bytes,
            )
            return False
        name = f"{_utc_stamp(datetime.now(timezone.utc))}-{random.getrandbits(32):08x}.blob"
        final = os.path.join(self.path, name)
        try:
            self._write_owner_only(final, payload)
        except OSError as exc:
            self._stats.add_dropped("storage_error", len(envelopes))
            warn_once("storage_write", "Writing telemetry to local storage failed (%s).", exc)
            return False
        with self._lock:
            self._own[name] = len(envelopes)
        self._stats.add_persisted(len(envelopes))
        return True

    @staticmethod
    def _write_owner_only(final: str, payload: bytes) -> None:
        temporary = final + ".tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(payload)
            os.replace(temporary, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise

    def _used_bytes(self) -> int:
        total = 0
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        return total

    def sweep(self, *, force: bool = False) -> int:
        """Delete blobs older than the retention period, counting their items as dropped.

        Returns how many items expired. Runs at most once a second unless ``force``.
        """
        now = time.monotonic()
        if not force and now < self._next_sweep:
            return 0
        self._next_sweep = now + _SWEEP_INTERVAL_S
        deadline = _utc_stamp(datetime.now(timezone.utc) - timedelta(seconds=self._retention_s))
        expired = 0
        try:
            names = os.listdir(self.path)
        except OSError:
            return 0
        for name in names:
            if not name.endswith((".blob", ".lock")) or name[:_TIME_LENGTH] >= deadline:
                continue
            full = os.path.join(self.path, name)
            try:
                with open(full, "rb") as file:
                    count = sum(1 for line in file if line.strip())
                os.remove(full)
            except OSError:
                continue  # another process took it first
            expired += count
            with self._lock:
                self._own.pop(_blob_key(full), None)
                self._missing_since.pop(_blob_key(full), None)
        if expired:
            self._stats.add_dropped("storage_expired", expired)
            warn_once(
                "drop:storage_expired",
                "Telemetry kept in local storage longer than the retention period (setting "
                "AZFUNC_TELEMETRY_STORAGE_RETENTION_S) was deleted; the count is in "
                "azfunc_telemetry.stats().",
            )
        return expired

    def leased(self, limit: int, lease_s: float) -> Iterator[tuple[Any, list[Envelope]]]:
        """Up to ``limit`` stored blobs, oldest first, each leased for ``lease_s`` seconds."""
        self.sweep()
        if self._reader is None:
            self._reader = _open_for_reading(
                self.path, self._max_bytes, int(self._retention_s) + _OPENCENSUS_RETENTION_SLACK_S
            )
            if self._reader is None:
                return
        taken = 0
        for blob in self._reader.gets():
            if taken >= limit:
                return
            if blob.lease(lease_s) is None:
                continue
            envelopes = blob.get()
            if not envelopes:
                self.done(blob)
                continue
            taken += 1
            yield blob, list(envelopes)

    def done(self, blob: Any) -> None:
        """The blob was delivered (or dropped for good): remove it."""
        blob.delete()
        with self._lock:
            self._own.pop(_blob_key(blob.fullpath), None)
            self._missing_since.pop(_blob_key(blob.fullpath), None)

    def release(self, blob: Any) -> None:
        """Hand a leased blob back at once (its send failed): it waits for the next attempt of
        whichever process comes first, not for a lease to run out."""
        blob.lease(0)

    def own_pending(self) -> int:
        """Envelopes this process persisted that are still on disk.

        A blob of ours that another process sent (and deleted) no longer counts, nor does
        one that expired; a blob another process is sending (leased) still does. A listing
        can miss a file renamed while it is read (a lease taken or handed back), so a blob is
        judged gone only when every listing for :data:`_GONE_AFTER_S` missed it.
        """
        with self._lock:
            if not self._own:
                return 0
            known = list(self._own)  # a blob written after the listing is not judged by it
        try:
            present = {_blob_key(name) for name in os.listdir(self.path)}
        except OSError:
            present = set(known)
        now = time.monotonic()
        with self._lock:
            for key in known:
                if key in present:
                    self._missing_since.pop(key, None)
                    continue
                since = self._missing_since.setdefault(key, now)
                if now - since >= _GONE_AFTER_S and key in self._own:
                    del self._own[key]
                    del self._missing_since[key]
            return sum(self._own.values())

    def close(self) -> None:
        """Stop opencensus' maintenance thread, if reading started it; files are closed after
        each use."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
