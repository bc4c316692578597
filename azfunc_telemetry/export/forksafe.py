"""Keeping ``os.fork()`` from landing in the middle of a lazy import on the export thread.

The export thread imports what sending needs (the envelope builder, ``http.client``, local
storage) when the first item arrives, off the caller's cold-start path. A fork copies only the
forking thread: had it landed while the export thread was half way through such an import, the
child would inherit a module that is in ``sys.modules`` but never finishes executing, and every
export cycle of the child would fail on it. Lazy imports made for export run inside
:func:`importing`; a fork waits (boundedly) until none is under way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["importing"]

#: Longest a fork waits for an import on the export thread (they take milliseconds).
_FORK_WAIT_S = 5.0

_guard = threading.RLock()
_held_for_fork = False


@contextmanager
def importing() -> Iterator[None]:
    """Run the body (which imports) where no fork can split it."""
    guard = _guard
    with guard:
        yield


def _before_fork() -> None:
    global _held_for_fork
    _held_for_fork = _guard.acquire(timeout=_FORK_WAIT_S)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _guard.release()


def _after_fork_in_child() -> None:
    # The lock may have been copied held (by this thread, or after a timed-out wait by a thread
    # that no longer exists here): the child starts with a fresh one.
    global _guard, _held_for_fork
    _guard = threading.RLock()
    _held_for_fork = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
