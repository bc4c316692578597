"""Child process for the outage-memory benchmark (run by :mod:`bench.outage_memory`).

The endpoint is a loopback port that refuses connections. After a warm-up that takes the
export side through its first failures (so its modules and local storage exist), the child
notes its RSS, emits the given number of records from invocations as fast as it can, and
prints its RSS and peak RSS afterwards with the delivery counters.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import socket
import time
from collections.abc import Callable

import azfunc_telemetry

from .timing import peak_rss_kib, rss_kib
from .workload import RECORDS_PER_INVOCATION, invocation_contexts, logging_invocation

__all__ = ["main"]

_invocation = logging_invocation("outage")


def _refusing_port() -> socket.socket:
    """A bound loopback socket that never listens: connecting to it is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def main() -> None:
    """Emit ``--records`` records against a dead endpoint; print memory and counters."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    args = parser.parse_args()
    with _refusing_port() as dead:
        port = dead.getsockname()[1]
        logging.getLogger().setLevel(logging.INFO)
        azfunc_telemetry.setup(
            connection_string=(
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                f"IngestionEndpoint=http://127.0.0.1:{port}/"
            )
        )
        contexts = invocation_contexts(64, "outage")
        for index in range(200):
            _invocation(contexts[index % len(contexts)])
        warmed = _wait_until(lambda: azfunc_telemetry.stats().persisted > 0, 30.0)
        gc.collect()
        rss_before = rss_kib()
        started = time.monotonic()
        invocations = args.records // RECORDS_PER_INVOCATION
        for index in range(invocations):
            _invocation(contexts[index % len(contexts)])
        emit_s = time.monotonic() - started
        rss_after = rss_kib()
        # ru_maxrss is updated lazily and can trail the current RSS by a little.
        peak = max(peak_rss_kib(), rss_after)
        gc.collect()
        rss_after_gc = rss_kib()
        stats = azfunc_telemetry.stats()
        print(
            json.dumps(
                {
                    "records": invocations * RECORDS_PER_INVOCATION,
                    "warmed_up": warmed,
                    "emit_s": emit_s,
                    "rss_before_kib": rss_before,
                    "rss_after_kib": rss_after,
                    "rss_after_gc_kib": rss_after_gc,
                    "peak_rss_kib": peak,
                    "queued": stats.queued,
                    "persisted": stats.persisted,
                    "dropped": stats.dropped,
                    "dropped_by_cause": stats.dropped_by_cause,
                    "pending": stats.pending,
                }
            ),
            flush=True,
        )
        azfunc_telemetry.shutdown(2.0)


if __name__ == "__main__":
    main()
