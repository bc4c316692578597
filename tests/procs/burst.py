"""A burst: 8 threads and 200 asyncio tasks log 200,000 records as fast as they can.

Usage: ``burst.py MARKER``. Default settings (only the endpoint and storage come from the
environment). Half the records come from the threads, half from the tasks, all inside
invocations. Prints ``burst <seconds>`` when the last record was logged, flushes, and prints
``final-stats <json>`` (``stats()`` after shutdown), ``peak-queue <items>`` and
``peak-rss-kib <KiB>``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
import threading
import time

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext

THREADS = 8
TASKS = 200
RECORDS = 200_000
PER_THREAD = RECORDS // 2 // THREADS
PER_TASK = RECORDS // 2 // TASKS


def main() -> None:
    """Log the burst, report how long it took and what was delivered, dropped or pending."""
    marker = sys.argv[1]
    config = azfunc_telemetry.setup()
    print("queue-size", config.queue_size, flush=True)
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("app.burst")
    peak = [0]
    done = threading.Event()

    def watch_queue() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], azfunc_telemetry.stats().queued)

    @azfunc_telemetry.instrument
    def in_thread(context: FakeContext, number: int) -> None:
        for index in range(PER_THREAD):
            log.info("%s thread %d record %d", marker, number, index)

    @azfunc_telemetry.instrument
    async def in_task(context: FakeContext, number: int) -> None:
        for index in range(PER_TASK):
            log.info("%s task %d record %d", marker, number, index)
            if index % 50 == 49:
                await asyncio.sleep(0)

    async def tasks() -> None:
        await asyncio.gather(
            *(in_task(context=FakeContext("BurstAsync"), number=n) for n in range(TASKS))
        )

    watcher = threading.Thread(target=watch_queue, daemon=True)
    watcher.start()
    threads = [
        threading.Thread(target=lambda n=n: in_thread(context=FakeContext("BurstSync"), number=n))
        for n in range(THREADS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    asyncio.run(tasks())
    for thread in threads:
        thread.join()
    print("burst", time.monotonic() - started, flush=True)
    azfunc_telemetry.flush(60.0)
    done.set()
    azfunc_telemetry.shutdown()
    print("peak-queue", peak[0], flush=True)
    print("peak-rss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
    print("final-stats", json.dumps(azfunc_telemetry.stats()._asdict()), flush=True)


if __name__ == "__main__":
    main()
