"""Child process for the export-side throughput benchmark (run by :mod:`bench.throughput_export`).

Pinned to one CPU. With the endpoint holding its first request, it fills the queue with
``--records`` records from invocations (ten each), prints ``filled``, waits for ``go`` on
stdin, then times ``flush()`` while the export thread alone delivers everything: the rate is
what the export side sustains on one core. It uses only the public API, so the same child
measures an earlier version of the package put first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import azfunc_telemetry

from .throughput_child import _pin_to_one_cpu
from .timing import cpu_seconds
from .workload import RECORDS_PER_INVOCATION, invocation_contexts, logging_invocation

__all__ = ["main"]

_invocation = logging_invocation("export-side")


def main() -> None:
    """Fill, wait for ``go``, drain, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()
    cpu = _pin_to_one_cpu()
    logging.getLogger().setLevel(logging.INFO)
    azfunc_telemetry.setup()
    contexts = invocation_contexts(64, "export-side")
    invocations = args.records // RECORDS_PER_INVOCATION
    for number in range(invocations):
        _invocation(contexts[number % len(contexts)])
    print("filled", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(2)
    before = azfunc_telemetry.stats()
    cpu_start = cpu_seconds()
    start = time.monotonic()
    flushed = azfunc_telemetry.flush(300.0)
    drain_s = time.monotonic() - start
    cpu_used = cpu_seconds() - cpu_start
    after = azfunc_telemetry.stats()
    print(
        json.dumps(
            {
                "cpu_pinned": cpu,
                "version": getattr(azfunc_telemetry, "__version__", "?"),
                "package": azfunc_telemetry.__file__,
                "records": invocations * RECORDS_PER_INVOCATION,
                "items": invocations * (RECORDS_PER_INVOCATION + 1),
                "drain_s": drain_s,
                "cpu_s": cpu_used,
                "flushed": flushed,
                "sent": after.sent,
                "sent_during_drain": after.sent - before.sent,
                "dropped": after.dropped,
                "pending": after.pending,
                "queued": after.queued,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
