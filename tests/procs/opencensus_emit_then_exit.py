"""The same program as ``emit_then_exit.py`` with opencensus-ext-azure's ``AzureLogHandler``.

Usage: ``opencensus_emit_then_exit.py CONNECTION_STRING STORAGE_PATH MARKER``. Shows how long
opencensus' exit takes when the endpoint hangs, and what happens to the record.
"""

from __future__ import annotations

import logging
import sys
import time

from opencensus.ext.azure.log_exporter import AzureLogHandler


def main() -> None:
    """Log one record through AzureLogHandler and exit the way an app does."""
    connection_string, storage_path, marker = sys.argv[1:4]
    handler = AzureLogHandler(
        connection_string=connection_string,
        storage_path=storage_path,
        export_interval=0.05,
        enable_standard_metrics=False,
    )
    if handler.lock is None:  # Python 3.13's Handler.handle needs a real one
        logging.Handler.createLock(handler)
    log = logging.getLogger("app")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.info("%s", marker)
    print("main-done", time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
