"""A process that logs COUNT records into an endpoint that refuses connections.

Usage: ``outage_flood.py COUNT``. Configured by app settings; prints one JSON line with the
delivery counters once every record is accounted for, the largest queue length seen while
logging, and the peak memory traced while logging and exporting. Runs in its own process so
that nothing else (a test runner's log capture) holds on to the records.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import tracemalloc

import azfunc_telemetry


def main() -> None:
    """Flood, wait until every record is dropped or pending, report."""
    total = int(sys.argv[1])
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")
    most_queued = 0
    raised = ""
    tracemalloc.start()
    try:
        for index in range(total):
            log.info("outage record %d", index)
            if index % 500 == 0:
                most_queued = max(most_queued, azfunc_telemetry.stats().queued)
    except Exception as exc:
        raised = repr(exc)
    # The counters are read one after another while the export thread moves items between
    # them, so wait until the account balances in several successive readings.
    deadline = time.monotonic() + 30.0
    balanced = 0
    while balanced < 5 and time.monotonic() < deadline:
        counters = azfunc_telemetry.stats()
        settled = counters.queued == 0 and counters.dropped + counters.pending == total
        balanced = balanced + 1 if settled else 0
        time.sleep(0.01)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    counters = azfunc_telemetry.stats()
    report = {
        "stats": counters._asdict(),
        "most_queued": most_queued,
        "peak_bytes": peak,
        "raised": raised,
    }
    print(json.dumps(report), flush=True)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
