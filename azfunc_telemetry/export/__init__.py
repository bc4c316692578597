"""The exporter seam: what the export thread hands finished envelopes to.

The pipeline does not know where telemetry goes. :class:`Exporter` is the contract; the
Application Insights exporter and the in-memory exporter implement it, and an OpenTelemetry
based exporter can be added behind the same seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["Envelope", "Exporter"]

Envelope = dict[str, Any]


class Exporter(Protocol):
    """Delivers envelopes. Called only from the export thread, except :meth:`persist_pending`.

    No method may raise: failures are counted in the statistics and reported by the exporter.
    """

    def export(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver ``envelopes`` now, or hold them for a later retry."""

    def maintain(self, now: float) -> None:
        """Do what is due at monotonic time ``now``: retries, draining local storage."""

    def next_due(self) -> float | None:
        """Monotonic time at which :meth:`maintain` has work, or ``None`` for nothing pending."""

    def pending(self) -> int:
        """Envelopes handed over by this process and not yet accepted (held or persisted)."""

    def persist_pending(self, extra: Sequence[Envelope] = ()) -> int:
        """Save everything held in memory (a batch in flight too, and ``extra``) to storage.

        Called at exit, possibly from another thread while a send hangs. Returns how many
        envelopes were saved.
        """

    def close(self) -> None:
        """Release connections and threads. Bounded: never waits on the network."""
