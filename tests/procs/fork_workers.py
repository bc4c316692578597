"""A process that forks COUNT workers after telemetry started; each worker logs and flushes.

Usage: ``fork_workers.py COUNT MARKER``. Exits 0 only when every worker's ``flush()``
returned True (its record reached the endpoint through its own export thread) and the parent's
did too.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import azfunc_telemetry


def _worker(index: int, log: logging.Logger, marker: str) -> None:
    code = 1
    try:
        log.info("%s worker %d pid %d", marker, index, os.getpid())
        code = 0 if azfunc_telemetry.flush(5.0) else 3
    finally:
        os._exit(code)


def main() -> None:
    """Start telemetry, fork, collect the workers' verdicts."""
    count, marker = int(sys.argv[1]), sys.argv[2]
    print("parent pid", os.getpid(), flush=True)
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")
    log.info("%s parent before fork", marker)
    if not azfunc_telemetry.flush(5.0):
        sys.exit(4)
    # Still queued in the parent when the workers are forked: it must be sent once, by the parent.
    log.info("%s pending at fork", marker)
    workers = []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            _worker(index, log, marker)
        workers.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in workers]
    log.info("%s parent after fork", marker)
    flushed = azfunc_telemetry.flush(5.0)
    print("workers", codes, "parent flushed", flushed, flush=True)
    print("main-done", time.monotonic(), flush=True)
    sys.exit(0 if flushed and not any(codes) else 1)


if __name__ == "__main__":
    main()
