"""A function-app process that logs COUNT records tagged MARKER and exits without flushing.

Usage: ``emit_then_exit.py COUNT MARKER [--flush] [--console]``. Configured by app settings in
the environment; ``--console`` shows the library's own messages on stderr, as a console does.
Its exit must deliver (healthy endpoint) or persist (hung endpoint) the records within the
exit deadline.
"""

from __future__ import annotations

import logging
import sys
import time

import azfunc_telemetry


def main() -> None:
    """Log, optionally flush, then report the moment the exit path starts."""
    count, marker = int(sys.argv[1]), sys.argv[2]
    if "--console" in sys.argv[3:]:
        logging.getLogger("azfunc_telemetry").addHandler(logging.StreamHandler())
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")
    for index in range(count):
        log.info("%s %d", marker, index)
    if "--flush" in sys.argv[3:]:
        print("flushed", azfunc_telemetry.flush(5.0), flush=True)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
