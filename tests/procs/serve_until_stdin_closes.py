"""A function-app process that starts telemetry, sends nothing itself and waits for stdin EOF.

It stands for the process after a restart: whatever an earlier process left in local storage
must be delivered by it. The test closes stdin once the emulator has those items.
"""

from __future__ import annotations

import sys
import time

import azfunc_telemetry


def main() -> None:
    """Start telemetry, wait for the test, print the delivery counters."""
    azfunc_telemetry.setup()
    print("ready", flush=True)
    sys.stdin.read()
    counters = azfunc_telemetry.stats()
    shown = (counters.queued, counters.sent, counters.retried, counters.persisted)
    print("stats", (*shown, counters.dropped), flush=True)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
