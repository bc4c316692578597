"""Child process for the sustained-throughput benchmark (run by :mod:`bench.throughput`).

Pinned to one CPU, it runs invocations that log ten records each for the given number of
seconds, as fast as the export side keeps up: it pauses whenever the queue is half full, so
nothing is dropped, and the rate it reaches is the rate the export thread sustains while the
app is logging. Then it flushes and prints what was delivered, the wall time and the CPU used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import azfunc_telemetry

from .timing import cpu_seconds
from .workload import RECORDS_PER_INVOCATION, invocation_contexts, logging_invocation

__all__ = ["main"]

_invocation = logging_invocation("throughput")


def _pin_to_one_cpu() -> int | None:
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return None
    return cpu


def main() -> None:
    """Emit for ``--seconds``, flush, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    cpu = _pin_to_one_cpu()
    logging.getLogger().setLevel(logging.INFO)
    config = azfunc_telemetry.setup()
    high_water = config.queue_size // 2
    contexts = invocation_contexts(64, "throughput")
    stats = azfunc_telemetry.stats
    invocations = pauses = 0
    # One untimed invocation: the export thread builds its exporter and connects.
    _invocation(contexts[0])
    azfunc_telemetry.flush(10.0)
    before = stats()
    cpu_start = cpu_seconds()
    start = time.monotonic()
    deadline = start + args.seconds
    while time.monotonic() < deadline:
        if stats().queued >= high_water:
            pauses += 1
            time.sleep(0.0005)
            continue
        _invocation(contexts[invocations % len(contexts)])
        invocations += 1
    emitted_end = time.monotonic()
    flushed = azfunc_telemetry.flush(60.0)
    end = time.monotonic()
    cpu_used = cpu_seconds() - cpu_start
    after = stats()
    print(
        json.dumps(
            {
                "cpu_pinned": cpu,
                "records": invocations * RECORDS_PER_INVOCATION,
                "invocations": invocations,
                "pauses": pauses,
                "emit_s": emitted_end - start,
                "wall_s": end - start,
                "cpu_s": cpu_used,
                "flushed": flushed,
                "sent": after.sent - before.sent,
                "dropped": after.dropped - before.dropped,
                "persisted": after.persisted - before.persisted,
                "retried": after.retried - before.retried,
                "pending": after.pending,
                "queued": after.queued,
                "dropped_by_cause": after.dropped_by_cause,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
