"""A burst far beyond the export rate, with the default settings, in a real child process."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from procs.launch import child_environment, run_program

from azfunc_telemetry.ingestion import IncomingRequest, IngestionServer

RECORDS = 200_000
REQUESTS = 8 + 200  # one per invocation: 8 threads, 200 tasks
EMITTED = RECORDS + REQUESTS
#: What the library itself may add: seven metrics at the flush and a warning or two.
LIBRARY_ITEMS_AT_MOST = 16


class CountingEndpoint:
    """A real ingestion endpoint that counts accepted items instead of keeping them."""

    def __init__(self) -> None:
        self.items = 0
        self.all_items = 0
        self._lock = threading.Lock()
        self.server = IngestionServer(self._count)

    def _count(self, items: list[dict[str, Any]], _request: IncomingRequest) -> None:
        # The burst's own items only: not the library's metrics or its saturation warning.
        ours = sum(1 for item in items if _is_burst_item(item))
        with self._lock:
            self.items += ours
            self.all_items += len(items)


def _is_burst_item(item: dict[str, Any]) -> bool:
    data = item["data"]
    if data["baseType"] in ("RequestData", "RemoteDependencyData"):
        return True  # the invocation's own item (a request, or a dependency under the host's)
    if data["baseType"] != "MessageData":
        return False
    message: str = data["baseData"]["message"]
    return message.startswith("burst ")


def output_value(stdout: str, name: str) -> str:
    """The rest of the line of ``burst.py``'s output that starts with ``name``."""
    for line in stdout.splitlines():
        if line.startswith(name + " "):
            return line.split(" ", 1)[1]
    raise AssertionError(f"no {name} line in {stdout!r}")


@pytest.mark.timeout(600)
def test_burst_of_200_000_records_loses_at_most_10_percent_and_counts_every_loss(
    tmp_path: Path,
) -> None:
    """8 threads and 200 asyncio tasks log 200,000 records at once with the default settings:
    at most 10% are dropped, every item is either delivered or counted as dropped, and the
    queue never holds more than its bound."""
    endpoint = CountingEndpoint()
    with endpoint.server:
        endpoint.server.start()
        connection_string = endpoint.server.connection_string(
            "00000000-0000-0000-0000-000000000000"
        )
        env = {
            name: value
            for name, value in child_environment(connection_string, tmp_path / "store").items()
            if not name.startswith("AZFUNC_TELEMETRY_") or name == "AZFUNC_TELEMETRY_STORAGE_PATH"
        }
        run = run_program("burst", "burst", env=env, timeout_s=540.0)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(output_value(run.stdout, "final-stats"))
    peak_queue = int(output_value(run.stdout, "peak-queue"))
    queue_size = int(output_value(run.stdout, "queue-size"))
    assert figures["dropped"] <= 0.10 * EMITTED, (figures, run.stdout)
    # Drops may include a few of the library's own items (its metrics, its warnings) too.
    assert EMITTED <= endpoint.items + figures["dropped"] <= EMITTED + LIBRARY_ITEMS_AT_MOST
    assert endpoint.items <= EMITTED
    assert figures["sent"] == endpoint.all_items
    # The length check and the append in submit() are two steps taken without a lock (so
    # logging never waits), so each producing thread (8, and the event loop's) may add one item
    # past the bound while another is between them.
    assert peak_queue <= queue_size + 9
    if figures["dropped"]:
        # Said once, as it happens: not once per item or per batch.
        assert run.stderr.count("Telemetry is arriving faster than it can be exported") == 1
