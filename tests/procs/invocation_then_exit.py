"""A function-app process: one instrumented invocation logs COUNT records, then it exits.

Usage: ``invocation_then_exit.py COUNT MARKER``. No ``flush()``: everything the invocation
produced (COUNT records and its request) is still pending when ``main`` returns, so the exit
path must deliver it, save it or count it. The last line of output is ``final-stats <json>``:
``azfunc_telemetry.stats()`` read after the library's own exit handler ran.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import time

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext


def _print_final_stats() -> None:
    # Registered before setup(), so it runs after the library's exit handler (atexit is LIFO).
    print("final-stats", json.dumps(azfunc_telemetry.stats()._asdict()), flush=True)


def main() -> None:
    """Run one invocation that logs, then let the process exit."""
    count, marker = int(sys.argv[1]), sys.argv[2]
    atexit.register(_print_final_stats)
    azfunc_telemetry.setup()
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app")

    @azfunc_telemetry.instrument
    def main_function(context: FakeContext) -> None:
        for index in range(count):
            log.info("%s %d", marker, index)

    main_function(context=FakeContext(function_name="ExitProbe"))
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
