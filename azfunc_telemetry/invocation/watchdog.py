"""A warning before the host's ``functionTimeout`` kills a slow invocation.

When the host times an invocation out it recycles the worker, and the function's own logs
never say why. The export thread looks at the running invocations about once a second and logs
one warning, tagged with the invocation, when one passes ``timeout_warning_ratio`` (0.8 by
default) of the timeout from ``host.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..capture.context import running_invocations
from ..diagnostics import logger
from ..export.pipeline import PeriodicTask
from ..model.records import LogItem
from .hostjson import read_host_settings

__all__ = ["timeout_watchdog"]


def timeout_watchdog(ratio: float, submit: Callable[[LogItem], None]) -> PeriodicTask | None:
    """The periodic check, or ``None`` when there is no timeout to watch.

    Args:
        ratio: the share of ``functionTimeout`` after which an invocation is warned about
            (``timeout_warning_ratio``; 0 turns the check off).
        submit: queues the warning's log item for export (the pipeline's ``submit``).
    """
    settings = read_host_settings()
    timeout_s = settings.function_timeout_s
    if not ratio or not timeout_s:
        return None
    threshold_s = timeout_s * ratio
    warned: set[str] = set()

    def check() -> None:
        now = time.perf_counter_ns()
        running = running_invocations()
        warned.intersection_update(context.invocation_id for _, context in running)
        for started, context in running:
            elapsed = (now - started) / 1e9
            if elapsed < threshold_s or context.invocation_id in warned:
                continue
            warned.add(context.invocation_id)
            record = logger.makeRecord(
                logger.name,
                logging.WARNING,
                __file__,
                0,
                "Invocation %s of %s has run for %.1f s, %.0f%% of the function timeout "
                "(%.0f s, from %s); the host will stop it at the timeout.",
                (
                    context.invocation_id,
                    context.function_name,
                    elapsed,
                    100 * elapsed / timeout_s,
                    timeout_s,
                    settings.timeout_source,
                ),
                None,
                extra={"elapsed_s": round(elapsed, 3), "function_timeout_s": timeout_s},
            )
            submit(LogItem(record, context))
            logger.handle(record)

    return PeriodicTask(min(1.0, max(0.05, threshold_s / 20)), check)
