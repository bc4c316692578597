"""A process that forks workers within milliseconds of its first invocation.

Usage: ``fork_early.py COUNT RECORDS MARKER``. Right after ``setup()`` and one instrumented
invocation, while the export thread is still starting (importing what sending needs), it
forks COUNT workers, one every 0.5 ms. Each worker logs RECORDS records and flushes; it exits
0 only when its ``flush()`` returned True. The parent prints each worker's exit code.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext


def _worker(index: int, records: int, marker: str) -> None:
    code = 1
    try:
        log = logging.getLogger("app")
        for number in range(records):
            log.info("%s worker %d record %d", marker, index, number)
        code = 0 if azfunc_telemetry.flush(20.0) else 3
    finally:
        os._exit(code)


def main() -> None:
    """Set up, invoke once, fork early and often, collect the workers' verdicts."""
    count, records, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)

    @azfunc_telemetry.instrument
    def first(context: FakeContext) -> None:
        logging.getLogger("app").info("%s parent first invocation", marker)

    first(context=FakeContext(function_name="ForkProbe"))
    workers = []
    for index in range(count):
        pause_until = time.perf_counter() + 0.0005
        while time.perf_counter() < pause_until:
            pass
        pid = os.fork()
        if pid == 0:
            _worker(index, records, marker)
        workers.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in workers]
    print("codes", *codes, flush=True)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
