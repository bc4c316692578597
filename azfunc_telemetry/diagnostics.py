"""The library's own voice: warnings about configuration and delivery, each said once.

Our logger is ``azfunc_telemetry`` (never under ``azure.functions``, which the worker treats as
system logs that users never see). Warnings propagate like any user record, so they reach the
Functions host log stream and, when emitted in an invocation, Application Insights.
"""

from __future__ import annotations

import logging
import os
import threading
import time

__all__ = ["RateLimitedWarning", "forget_warnings", "logger", "warn_once"]

logger = logging.getLogger("azfunc_telemetry")

_said: set[str] = set()
_said_lock = threading.Lock()
_limiters: list[RateLimitedWarning] = []


def warn_once(key: str, message: str, *args: object) -> bool:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process.

    Returns whether it was logged, so callers can test the once-only behaviour.
    """
    with _said_lock:
        if key in _said:
            return False
        _said.add(key)
    logger.warning(message, *args)
    return True


def forget_warnings(*, keep_prefix: str | None = None) -> None:
    """Allow every warning to be said again (a fresh :func:`azfunc_telemetry.setup`).

    Args:
        keep_prefix: warnings whose key starts with this stay said.
    """
    with _said_lock:
        if keep_prefix is None:
            _said.clear()
        else:
            _said.intersection_update({key for key in _said if key.startswith(keep_prefix)})
        limiters = list(_limiters)
    for limiter in limiters:
        limiter.reset()


def _renew_locks_in_child() -> None:
    """A fork can happen while another thread holds one of these locks; the child starts clean."""
    global _said_lock
    _said_lock = threading.Lock()
    for limiter in _limiters:
        limiter._lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_locks_in_child)


class RateLimitedWarning:
    """A warning said at most once per ``interval_s``, counting how often it was held back."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next_ns = 0
        self._held_back = 0
        self._lock = threading.Lock()
        with _said_lock:
            _limiters.append(self)

    def reset(self) -> None:
        """Forget when the warning was last said."""
        with self._lock:
            self._next_ns = 0
            self._held_back = 0

    def warn(self, message: str, *args: object) -> bool:
        """Log now if the interval has passed; otherwise count it. Returns whether logged."""
        now = time.monotonic_ns()
        with self._lock:
            if now < self._next_ns:
                self._held_back += 1
                return False
            self._next_ns = now + int(self._interval_s * 1e9)
            held, self._held_back = self._held_back, 0
        suffix = f" ({held} similar warnings were held back)" if held else ""
        logger.warning(message + suffix, *args)
        return True
