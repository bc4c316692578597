"""The library's :class:`~azfunc_telemetry.testing.IngestionEmulator` in a process of its own.

The benchmarks measure the library's process alone: an emulator in the same interpreter would
take the GIL from the code being timed. This process serves on 127.0.0.1, counts what arrives,
forgets stored envelopes every half second (a 30 s throughput run would otherwise hold a
million of them) and takes one command per line on stdin, answering one JSON line on stdout:

* ``count``: ``{"items": ..., "requests": ..., "hung": ...}`` received so far;
* ``hang``: from now on hold every request without an answer (a hung endpoint);
* ``normal``: answer normally again and release the held requests;
* ``quit`` (or end of input): stop serving and exit.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping

from azfunc_telemetry.testing import IngestionEmulator, RecordedRequest, ScriptedResponse

__all__ = ["main"]

_FORGET_EVERY_S = 0.5


class _Counter:
    """Counts requests and items, and decides whether to hang them."""

    def __init__(self) -> None:
        self.items = 0
        self.requests = 0
        self.hung = 0
        self.hang = False
        self._lock = threading.Lock()

    def respond(self, request: RecordedRequest) -> ScriptedResponse | None:
        with self._lock:
            if self.hang:
                self.hung += 1
                return ScriptedResponse(hang=True)
            self.items += request.item_count
            self.requests += 1
        return None

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"items": self.items, "requests": self.requests, "hung": self.hung}


def _reply(payload: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Serve until told to quit."""
    counter = _Counter()
    emulator = IngestionEmulator().start()
    emulator.respond_with(counter.respond)
    stop = threading.Event()

    def forget() -> None:
        while not stop.wait(_FORGET_EVERY_S):
            emulator.clear()

    forgetter = threading.Thread(target=forget, name="emulator-forget", daemon=True)
    forgetter.start()
    _reply({"connection_string": emulator.connection_string, "port": emulator.port})
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "count":
                _reply(counter.snapshot())
            elif command == "hang":
                counter.hang = True
                _reply({"ok": True})
            elif command == "normal":
                counter.hang = False
                emulator.release()
                _reply({"ok": True})
            elif command == "quit":
                break
            else:
                _reply({"error": f"unknown command {command!r}"})
    finally:
        stop.set()
        emulator.release()
        emulator.stop()
        forgetter.join(2.0)


if __name__ == "__main__":
    main()
