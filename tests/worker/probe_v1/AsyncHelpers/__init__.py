"""An async ``function.json`` function that logs from executors and threads.

The samples' helper threads are all in sync functions; this one covers the async case, where
the runtime sets no ``invocation_id_cv`` itself, so only the library's stamping lets the worker
attach these records to the invocation: the library's own helpers and ``asyncio.to_thread``.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import asyncio
import logging
import threading

import azure.functions as func

import azfunc_telemetry

log = logging.getLogger(__name__)


def _thread_record(tag: str) -> None:
    log.info("thread record %s", tag)


@azfunc_telemetry.instrument
async def main(req: func.HttpRequest) -> func.HttpResponse:
    """Log from two executor tasks, a thread, ``asyncio.to_thread`` and the function itself."""
    tag = req.params["tag"]
    loop = asyncio.get_running_loop()
    with azfunc_telemetry.InvocationExecutor(max_workers=2, thread_name_prefix="probe") as pool:
        await asyncio.gather(
            *(loop.run_in_executor(pool, log.info, "executor record %s %d", tag, i) for i in (0, 1))
        )
    thread = threading.Thread(
        target=azfunc_telemetry.wrap_in_invocation(_thread_record), args=(tag,)
    )
    thread.start()
    await asyncio.to_thread(thread.join)
    await asyncio.to_thread(log.info, "to_thread record %s", tag)
    log.info("main record %s", tag)
    return func.HttpResponse(tag)
