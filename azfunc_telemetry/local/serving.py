"""Running a local server in the foreground until Ctrl+C or SIGTERM, for the CLI's commands."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["serve_until_interrupted"]

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def serve_until_interrupted(
    start: Callable[[], object], stop: Callable[[], object], stopped: threading.Event
) -> None:
    """``start()``, wait until interrupted (Ctrl+C, SIGTERM) or ``stopped`` is set, ``stop()``.

    Signal handlers can only be installed from the main thread; elsewhere only setting
    ``stopped`` ends the wait. The handler SIGTERM had before is put back.
    """

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous: _SignalHandler = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    start()
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        stop()
