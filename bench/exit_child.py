"""Child process for the exit-latency benchmark (run by :mod:`bench.exit_latency`).

It logs ``--records`` records with the chosen library (or with none, for the bare exit), notes
``time.monotonic()`` as the last thing ``main`` does, and exits normally, so the library's exit
hooks run. The parent measures from that moment to the process being gone
(``CLOCK_MONOTONIC`` is shared by all processes). The connection string comes from
``APPLICATIONINSIGHTS_CONNECTION_STRING``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

__all__ = ["main"]


def _azfunc(records: int) -> None:
    import azfunc_telemetry
    from azfunc_telemetry.testing import FakeContext

    from .workload import APP_LOGGER, EXTRA, MESSAGE

    azfunc_telemetry.setup()

    @azfunc_telemetry.instrument(name="exit")
    def invocation(context: FakeContext) -> None:
        for index in range(records):
            APP_LOGGER.info(MESSAGE, "A-77", index, extra=EXTRA)

    invocation(FakeContext("exit"))


def _opencensus(records: int) -> None:
    from .workload import APP_LOGGER, MESSAGE, OPENCENSUS_EXTRA, opencensus_log_handler

    handler = opencensus_log_handler(os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"])
    logging.getLogger().addHandler(handler)
    for index in range(records):
        APP_LOGGER.info(MESSAGE, "A-77", index, extra=OPENCENSUS_EXTRA)


def _none(records: int) -> None:
    """The same imports and log calls with no telemetry configured: the bare exit."""
    from azfunc_telemetry.testing import FakeContext

    from .workload import APP_LOGGER, EXTRA, MESSAGE

    FakeContext("exit")
    for index in range(records):
        APP_LOGGER.info(MESSAGE, "A-77", index, extra=EXTRA)


def main() -> None:
    """Log, print the end-of-main timestamp, return (and let the exit hooks run)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--library", choices=("azfunc", "opencensus", "none"), required=True)
    parser.add_argument("--records", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.INFO)
    {"azfunc": _azfunc, "opencensus": _opencensus, "none": _none}[args.library](args.records)
    print(json.dumps({"main_end": time.monotonic()}), flush=True)


if __name__ == "__main__":
    main()
