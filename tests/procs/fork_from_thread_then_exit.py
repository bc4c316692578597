"""A process that forks from a worker thread; the child logs one record and calls sys.exit(0).

Usage: ``fork_from_thread_then_exit.py MARKER``. Without telemetry such a child ends at once
(``sys.exit`` ends its only thread, and with it the process). The parent waits for the child
with a deadline and prints ``child <exit code> <seconds>``, or ``child alive`` (and kills it)
when the deadline passes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import azfunc_telemetry

DEADLINE_S = 15.0


def _fork_and_report(marker: str) -> None:
    pid = os.fork()
    if pid == 0:
        logging.getLogger("app").info("%s child pid %d", marker, os.getpid())
        sys.exit(0)
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            print("child", code, time.monotonic() - started, flush=True)
            return
        time.sleep(0.01)
    print("child alive", flush=True)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def main() -> None:
    """Start telemetry, fork from a thread, wait for the child."""
    marker = sys.argv[1]
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("app").info("%s parent", marker)
    worker = threading.Thread(target=_fork_and_report, args=(marker,), name="worker")
    worker.start()
    worker.join()
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
