"""A function-app process that logs COUNT records tagged MARKER and waits to be stopped.

Usage: ``stopped_by_sigterm.py COUNT MARKER MODE``, configured by app settings. It prints
``ready`` once the records are logged (still in memory: the tests set a long export interval)
and blocks reading stdin, as a worker waits for the host. MODE says what SIGTERM did before
the library was set up or what the app does with it:

* ``default``: nothing; Python's default disposition ends the process.
* ``app-before``: the app's handler, set before setup, prints ``app handler`` and ends the
  process with ``os._exit(3)`` (no ``atexit``): only a flush before it can save the records.
* ``app-after``: the same handler (``os._exit(4)``) set after setup; a function decorated later
  puts the flush back in front of it.
* ``ignored``: SIGTERM ignored. The process carries on: on a line from stdin it logs COUNT
  more records (``MARKER-after``) and exits normally.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

import azfunc_telemetry


def _app_handler(code: int) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        print("app handler", flush=True)
        os._exit(code)

    return handle


def main() -> None:
    """Set up as MODE says, log, report ready, wait for the signal (or for stdin)."""
    count, marker, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if mode == "app-before":
        signal.signal(signal.SIGTERM, _app_handler(3))
    elif mode == "ignored":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    azfunc_telemetry.setup()
    if mode == "app-after":
        signal.signal(signal.SIGTERM, _app_handler(4))

        @azfunc_telemetry.instrument
        def entry() -> None:
            """Decorated after the app's handler was set, as an app module imported later."""

    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")
    for index in range(count):
        log.info("%s %d", marker, index)
    print("ready", flush=True)
    sys.stdin.readline()
    for index in range(count):
        log.info("%s-after %d", marker, index)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
