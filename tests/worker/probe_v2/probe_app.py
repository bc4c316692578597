"""A ``function_app.py``-style app for the runtime tests: helper threads, and a slow sync function.

Loaded with ``PYTHON_SCRIPT_FILE_NAME=probe_app.py``, beside the v2 sample, whose
``function_app`` module the runtime has already imported.
"""

import asyncio
import logging
import threading
import time

import azure.functions as func

import azfunc_telemetry

log = logging.getLogger("probe_app")

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _log_executor_record(tag: str, index: int) -> None:
    log.info("executor record %s %d", tag, index)


def _helpers(tag: str) -> threading.Thread:
    with azfunc_telemetry.InvocationExecutor(max_workers=2, thread_name_prefix="probe") as pool:
        list(pool.map(_log_executor_record, (tag, tag), (0, 1)))

    def log_thread_record() -> None:
        log.info("thread record %s", tag)

    return threading.Thread(target=azfunc_telemetry.wrap_in_invocation(log_thread_record))


@app.route(route="sync_helpers", methods=["GET"])
def sync_helpers(req: func.HttpRequest) -> func.HttpResponse:
    """Sync: log from an executor, a thread and the function."""
    tag = req.params["tag"]
    thread = _helpers(tag)
    thread.start()
    thread.join()
    log.info("main record %s", tag)
    return func.HttpResponse(tag)


@app.route(route="async_helpers", methods=["GET"])
async def async_helpers(req: func.HttpRequest) -> func.HttpResponse:
    """Async: the same from the event loop."""
    tag = req.params["tag"]
    thread = await asyncio.to_thread(_helpers, tag)
    thread.start()
    await asyncio.to_thread(thread.join)
    await asyncio.to_thread(log.info, "to_thread record %s", tag)
    log.info("main record %s", tag)
    return func.HttpResponse(tag)


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    """Sync and blocking, to fill the runtime's thread pool."""
    tag = req.params["tag"]
    log.info("slow start %s", tag)
    time.sleep(float(req.params.get("seconds", "0.2")))
    log.info("slow end %s", tag)
    return func.HttpResponse(tag)


azfunc_telemetry.instrument_app(app)
