"""HTTP trigger, sync, slow: build a report while blocking on I/O.

Sync functions run on the worker's thread pool (``PYTHON_THREADPOOL_THREAD_COUNT`` threads). A
few of these at once hold every thread, and every other sync invocation waits for one: the
README's "Invocations that waited for the thread pool" query shows it from the ``pool_wait_ms``,
``pool_saturated`` and ``pool_queue_depth`` dimensions of each request.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import logging
import time

import azure.functions as func

import azfunc_telemetry

__all__ = ["main"]

log = logging.getLogger(__name__)

_MAX_SECONDS = 30.0


@azfunc_telemetry.instrument
def main(req: func.HttpRequest) -> func.HttpResponse:
    """Spend ``seconds`` (default 2) waiting on the report store, then answer."""
    try:
        seconds = min(max(float(req.params.get("seconds", "2")), 0.0), _MAX_SECONDS)
    except ValueError:
        return func.HttpResponse("seconds must be a number", status_code=400)
    log.info("Building a report", extra={"seconds": seconds})
    with azfunc_telemetry.span("reports share", type="Azure blob", target="reports"):
        time.sleep(seconds)  # stands in for a slow, blocking storage or database call
    log.info("Report ready")
    return func.HttpResponse(f"report built in {seconds:g} s")
