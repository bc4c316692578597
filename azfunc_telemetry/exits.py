"""Ending the process as it would end without the library, having delivered or saved its telemetry.

Two ends are covered here (SIGTERM, the third, is :mod:`azfunc_telemetry.signals`):

- A normal interpreter exit: ``atexit`` shuts the pipeline down within ``exit_timeout_s``.
- A child forked from a worker thread. Such a child runs only the thread that forked;
  ``sys.exit()`` there ends that thread, and with it the process, skipping interpreter shutdown
  and ``atexit``. The export thread the fork hook started would keep the process alive instead
  (and its parent's ``waitpid`` waiting), so a watcher waits for every thread of the child but
  the library's own to end, flushes within ``exit_timeout_s`` as an exit would, and lets the
  process end.

The runtime hands this module its ``shutdown`` and a way to read the library's own threads, so
nothing here imports the runtime.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Collection

__all__ = ["shut_down_at_exit"]

#: The runtime's ``shutdown``; ``None`` until :func:`shut_down_at_exit` is called.
_shutdown: Callable[[], object] | None = None


def _no_threads() -> Collection[int] | None:
    return None


#: The idents of the library's own threads (the export thread), or ``None`` when nothing runs.
_own_threads: Callable[[], Collection[int] | None] = _no_threads
_forked_from_main_thread = True


def shut_down_at_exit(
    shutdown: Callable[[], object], own_threads: Callable[[], Collection[int] | None]
) -> None:
    """Call ``shutdown`` at interpreter exit and when a child forked from a thread ends.

    Args:
        shutdown: stops telemetry within its exit deadline; never raises.
        own_threads: the idents of the library's running threads, or ``None`` when telemetry
            is not exporting (then a forked child has nothing to wait for).
    """
    global _shutdown, _own_threads
    first = _shutdown is None
    _shutdown = shutdown
    _own_threads = own_threads
    if first:
        atexit.register(_shut_down)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=_note_forking_thread, after_in_child=_end_child_with_its_threads
            )


def _shut_down() -> None:
    shutdown = _shutdown
    if shutdown is None:
        return
    try:
        shutdown()
    except Exception:  # pragma: no cover - never turn an exit into a traceback
        pass


def _note_forking_thread() -> None:
    global _forked_from_main_thread
    _forked_from_main_thread = threading.current_thread() is threading.main_thread()


def _end_child_with_its_threads() -> None:
    """In a child forked from a worker thread, start the watcher that ends it as Python would."""
    if _forked_from_main_thread or _own_threads() is None:
        return
    watcher = threading.Thread(
        target=_shut_down_when_threads_end,
        args=(threading.current_thread(),),
        name="azfunc-telemetry-fork-exit",
        daemon=True,
    )
    watcher.start()


def _shut_down_when_threads_end(forking_thread: threading.Thread) -> None:
    forking_thread.join()
    unjoinable: set[threading.Thread] = set()  # threads Python did not start cannot be joined
    while True:
        ours = _own_threads() or ()
        others = [
            thread
            for thread in threading.enumerate()
            if thread is not threading.current_thread()
            and thread.ident not in ours
            and thread not in unjoinable
        ]
        if not others:
            break
        for thread in others:
            try:
                thread.join()
            except (RuntimeError, AssertionError):
                unjoinable.add(thread)
    _shut_down()
