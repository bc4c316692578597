"""An exporter that keeps envelopes in memory, for tests and for looking before sending."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from . import Envelope

__all__ = ["InMemoryExporter"]


class InMemoryExporter:
    """Collects every exported envelope; thread-safe. Pass it as ``setup(exporter=...)``."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._envelopes: list[Envelope] = []

    def export(self, envelopes: Sequence[Envelope]) -> None:
        """Keep ``envelopes``."""
        with self._lock:
            self._envelopes.extend(envelopes)
            self._lock.notify_all()

    def maintain(self, now: float) -> None:
        """Nothing is ever held, so nothing is due."""

    def next_due(self) -> float | None:
        """Nothing is ever due."""
        return None

    def pending(self) -> int:
        """Nothing is ever pending."""
        return 0

    def persist_pending(self, extra: Sequence[Envelope] = ()) -> int:
        """Nothing is held; ``extra`` is kept like an export."""
        self.export(extra)
        return 0

    def close(self) -> None:
        """Nothing to release."""

    @property
    def envelopes(self) -> list[Envelope]:
        """A copy of everything exported so far."""
        with self._lock:
            return list(self._envelopes)

    def clear(self) -> None:
        """Forget everything exported so far."""
        with self._lock:
            self._envelopes.clear()
