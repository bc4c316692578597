"""Stopping the worker loses nothing: on SIGTERM, deliver or persist, then end as before.

The Functions host stops a worker process with SIGTERM on scale-in, restart and deployment.
Python's default disposition for SIGTERM ends the process on the spot: ``atexit`` never runs,
so whatever telemetry was still in memory is lost. The handler installed here shuts the
pipeline down within ``exit_timeout_s`` (delivering what the endpoint takes in time and writing
the rest to local storage, which the next process sends) and then does exactly what would have
happened without it: it calls the handler that was there before (the app's), does nothing more
if the signal was ignored, or restores the default disposition and raises the signal again, so
the process still ends *by SIGTERM*, with the status the host expects.

Only the main thread may install a signal handler. ``setup()`` often runs on a pool thread (the
first invocation of a sync function sets up lazily), so :func:`azfunc_telemetry.instrument`,
which runs when the worker imports the app on its main thread, installs it too. Every install
puts the handler back in front of whatever is there now, so an app handler set after an earlier
install is chained to as soon as the library is set up or a function is decorated again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["install_sigterm_flush", "stop_within", "when_terminated"]

#: What SIGTERM did before the handler went in front: a callable, SIG_IGN, SIG_DFL or None.
_previous: Any = signal.SIG_DFL
#: Whether a SIGTERM is being handled right now.
_handling = False
#: Time kept, within ``exit_timeout_s``, for starting the stopping thread and returning.
_MARGIN_S = 0.05
#: Stops telemetry within its exit deadline and returns how to start it again (``None`` when
#: nothing was running). The runtime hands it in (:func:`when_terminated`): this module sits
#: below the runtime and does not import it.
_stop: Callable[[], Callable[[], object] | None] | None = None


def when_terminated(stop: Callable[[], Callable[[], object] | None]) -> None:
    """Call ``stop`` on SIGTERM, before SIGTERM's previous handling; call what it returns after
    that handling if the process is still running."""
    global _stop
    _stop = stop


def install_sigterm_flush() -> bool:
    """Put the flush in front of SIGTERM's current handling.

    Returns:
        Whether the handler is in place: ``False`` off the main thread, where Python allows no
        signal handler to be set, or on a platform without SIGTERM.
    """
    global _previous
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm:
            return True
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (AttributeError, OSError, ValueError):
        return False
    _previous = current
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop telemetry within its exit deadline, then do what SIGTERM did before."""
    global _handling
    if _handling:
        # A second SIGTERM while the first is being handled (Python runs the handler again
        # between two bytecodes of the first): the first one finishes and acts for both.
        return
    _handling = True
    try:
        _stop_then_chain(signum, frame)
    finally:
        _handling = False


def _stop_then_chain(signum: int, frame: FrameType | None) -> None:
    stop = _stop
    resume = stop() if stop is not None else None
    previous = _previous
    if previous is signal.SIG_DFL or previous is None:
        # None: a handler set outside Python, whose behaviour is unknown; the default is the
        # closest honest answer. Raised again with the default disposition, the signal ends
        # the process exactly as if this handler had never been there.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
        return
    if callable(previous):
        previous(signum, frame)
    # Still running (the signal was ignored, or the app's handler returned): carry on with
    # telemetry exactly as it was configured.
    if resume is not None:
        resume()


def stop_within(timeout_s: float, shutdown: Callable[[float], object]) -> None:
    """Run ``shutdown`` on a thread of its own and wait for it at most ``timeout_s``.

    The signal interrupts the main thread wherever it was, possibly holding a lock the
    shutdown needs; on its own thread the shutdown can only make the wait time out, never
    deadlock the process or hold the signal back beyond the exit deadline.
    """
    budget = max(0.0, timeout_s - _MARGIN_S)
    stopper = threading.Thread(
        target=_quietly, args=(shutdown, budget), name="azfunc-telemetry-sigterm", daemon=True
    )
    stopper.start()
    stopper.join(budget)


def _quietly(shutdown: Callable[[float], object], timeout_s: float) -> None:
    try:
        shutdown(timeout_s)
    except Exception:  # pragma: no cover - never turn a stop into a traceback
        pass
