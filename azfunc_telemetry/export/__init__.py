"""Export: the bounded pipeline, its export thread, delivery counters, and the backend seam.

The pipeline knows the typed records of :mod:`azfunc_telemetry.model.records` and two
contracts, both generic in the backend's wire item: a :class:`Formatter` turns each record into
one wire item, and an :class:`Exporter` delivers batches of them. Application Insights is one
such pair, in :mod:`azfunc_telemetry.export.appinsights` (envelopes built by
``EnvelopeBuilder``, sent by ``AzureMonitorExporter``); another backend, such as OpenTelemetry,
is one more package beside it, fed the same records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ..model.records import QueueItem

__all__ = ["Envelope", "Exporter", "Formatter"]

#: An Application Insights envelope: the wire item of the default backend.
Envelope = dict[str, Any]

Wire = TypeVar("Wire")
WireOut = TypeVar("WireOut", covariant=True)
WireIn = TypeVar("WireIn", contravariant=True)


class Formatter(Protocol[WireOut]):
    """Turns queued records into one backend's wire items, on the export thread."""

    def build(self, item: QueueItem) -> WireOut | None:
        """The wire item for ``item``, or ``None`` when the backend cannot represent it."""


class Exporter(Protocol[WireIn]):
    """Delivers wire items. Called only from the export thread, except :meth:`persist_pending`.

    No method may raise: failures are counted in the statistics and reported by the exporter.
    For the default backend the wire items are Application Insights envelopes.
    """

    def export(self, envelopes: Sequence[WireIn]) -> None:
        """Deliver ``envelopes`` now, or hold them for a later retry."""

    def maintain(self, now: float) -> None:
        """Do what is due at monotonic time ``now``: retries, draining local storage."""

    def next_due(self) -> float | None:
        """Monotonic time at which :meth:`maintain` has work, or ``None`` for nothing pending."""

    def pending(self) -> int:
        """Items handed over by this process and not yet accepted (held or persisted)."""

    def persist_pending(self, extra: Sequence[WireIn] = ()) -> int:
        """Save everything held in memory (a batch in flight too, and ``extra``) to storage.

        Called at exit, possibly from another thread while a send hangs. Returns how many
        items were saved.
        """

    def close(self) -> None:
        """Release connections and threads. Bounded: never waits on the network."""
