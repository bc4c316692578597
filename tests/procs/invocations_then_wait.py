"""A function-app process that runs COUNT invocations and then sits idle until it is killed.

Usage: ``invocations_then_wait.py COUNT MARKER``. After a warm-up record and a flush (a
process that has served before), it runs the invocations. Each invocation (sync, decorated with
``@instrument``) logs three records. After the last one ends it prints
``ended <time.monotonic()>`` and blocks reading stdin: the test kills it with SIGKILL a fixed
time later, so only what already left the process counts.
"""

from __future__ import annotations

import logging
import sys
import time

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext

RECORDS_PER_INVOCATION = 3


def main() -> None:
    """Run the invocations, report when the last one ended, wait to be killed."""
    count, marker = int(sys.argv[1]), sys.argv[2]
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")

    @azfunc_telemetry.instrument
    def handle(context: FakeContext, number: int) -> None:
        for index in range(RECORDS_PER_INVOCATION):
            log.info("%s %d.%d", marker, number, index)

    # A process that has served before: its export thread is started and connected.
    log.info("%s-warm-up", marker)
    if not azfunc_telemetry.flush(30.0):
        sys.exit(3)
    for number in range(count):
        handle(context=FakeContext(function_name="KillProbe"), number=number)
    print("ended", time.monotonic(), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
