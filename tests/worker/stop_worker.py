"""A worker process for the SIGTERM test: the v1 samples in the real runtime, then waiting.

Usage: ``stop_worker.py ROUNDS``. Loads ``samples/`` through ``azure_functions_runtime_v1`` as
the worker does (on this, the main thread), runs every HTTP sample ROUNDS times at once, prints
``ready <invocations>`` and blocks reading stdin, as a worker waits for the host's next request.
Configured by app settings in the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

from worker_host import WorkerHost, http_input

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def main() -> None:
    """Load, invoke, report, wait to be stopped."""
    rounds = int(sys.argv[1])
    with WorkerHost("azure_functions_runtime_v1", [SAMPLES]) as host:
        calls = []
        for i in range(rounds):
            calls.append(("HttpSync", {"req": http_input({"name": f"stop{i}"})}, None))
            calls.append(("HttpAsync", {"req": http_input({"skus": f"sku-s{i}"})}, None))
            calls.append(("FanOut", {"req": http_input({"skus": f"sku-t{i}"})}, None))
        invocations = host.invoke_all(calls)
        assert all(i.response.result.status == 1 for i in invocations)
        print("ready", len(invocations), flush=True)
        sys.stdin.readline()


if __name__ == "__main__":
    main()
