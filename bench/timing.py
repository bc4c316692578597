"""Shared measurement tools: interleaved timing, medians, CPU and memory readings.

Every comparison in the benchmarks runs its variants in turn inside one process (A, B, C, then
B, C, A, ...), so a noisy neighbour or a frequency change hits all of them alike, and reports the
median of the repeats. Operations are timed in chunks no larger than the library's export batch,
with untimed settling between chunks, so the queue holds what it holds in a real app.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Block",
    "Series",
    "chunked",
    "cpu_seconds",
    "interleave",
    "median",
    "peak_rss_kib",
    "rss_kib",
]


@dataclass(frozen=True)
class Block:
    """One timed block: how long ``operations`` operations took, in nanoseconds."""

    elapsed_ns: int
    operations: int

    @property
    def per_op_us(self) -> float:
        """Microseconds per operation."""
        return self.elapsed_ns / self.operations / 1000.0


@dataclass
class Series:
    """The per-operation times of one variant over all repeats, in microseconds."""

    values_us: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        """The median over the repeats: robust against one disturbed repeat."""
        return statistics.median(self.values_us)

    @property
    def spread_pct(self) -> float:
        """(max - min) / median of the repeats, as a percentage: how noisy the series was."""
        median = self.median_us
        if not median:
            return 0.0
        return 100.0 * (max(self.values_us) - min(self.values_us)) / median


def chunked(
    run_chunk: Callable[[], int], settle: Callable[[], None], chunks: int, size: int
) -> Block:
    """Time ``chunks`` calls of ``run_chunk`` (each doing ``size`` operations, returning ns).

    ``settle`` runs untimed after each chunk, to let the export side drain as it would between
    bursts in a real app.
    """
    total = 0
    for _ in range(chunks):
        total += run_chunk()
        settle()
    return Block(total, chunks * size)


def interleave(
    variants: Mapping[str, Callable[[], Block]], *, repeats: int, warmup: int = 1
) -> dict[str, Series]:
    """Run every variant once per repeat, rotating the order each repeat.

    Args:
        variants: name -> a callable that runs one timed block and returns it.
        repeats: timed repeats per variant; the median of them is the result.
        warmup: untimed rounds first, so caches, lazy imports and connections are warm.

    Returns:
        name -> the series of per-operation times.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    results = {name: Series() for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].values_us.append(variants[name]().per_op_us)
    return results


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (a shorthand for the modules that report it)."""
    return statistics.median(values)


def cpu_seconds() -> float:
    """User plus system CPU time this process has used, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    """The highest resident set size this process has had, in KiB (Linux ``ru_maxrss``)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rss_kib() -> int:
    """The resident set size now, in KiB (``/proc/self/status``; peak RSS where unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return peak_rss_kib()
