"""Benchmarks of azfunc_telemetry against the standard library and opencensus-ext-azure.

Run ``python -m bench`` (or ``nox -s bench``) for the full run, which writes
``bench/results/latest.json`` and ``bench/results/latest.md``; ``python -m bench --smoke`` runs
every benchmark briefly, to check that they work. ``docs/PERFORMANCE.md`` explains the numbers.
"""

from __future__ import annotations

__all__: list[str] = []
