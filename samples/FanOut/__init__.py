"""HTTP trigger, sync: price a basket on several threads of its own.

Threads do not inherit the invocation by themselves. Three ways to give it to them are shown:
``azfunc_telemetry.InvocationExecutor`` (a drop-in ``ThreadPoolExecutor``),
``azfunc_telemetry.wrap_in_invocation`` for a plain ``threading.Thread``, and the worker's own
documented convention, ``context.thread_local_storage.invocation_id``, set inside the thread.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import json
import logging
import threading
from typing import Any

import azure.functions as func
from shared_code import pricing

import azfunc_telemetry

__all__ = ["main"]

log = logging.getLogger(__name__)


def _notify(total: float) -> None:
    log.info("Sent the quote of %.2f", total, extra={"channel": "email"})


def _audit(context: func.Context, total: float) -> None:
    storage: Any = context.thread_local_storage
    storage.invocation_id = context.invocation_id
    try:
        log.info("Audit record written for %.2f", total)
    finally:
        storage.invocation_id = None


@azfunc_telemetry.instrument
def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Price the comma-separated ``skus`` in parallel, then notify and audit on other threads."""
    skus = [sku for sku in req.params.get("skus", ",".join(pricing.PRICES)).split(",") if sku]
    with azfunc_telemetry.InvocationExecutor(max_workers=4, thread_name_prefix="pricing") as pool:
        prices = list(pool.map(pricing.price, skus))
    total = round(sum(prices), 2)
    threads = [
        threading.Thread(target=azfunc_telemetry.wrap_in_invocation(_notify), args=(total,)),
        threading.Thread(target=_audit, args=(context, total)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.info("Basket of %d items costs %.2f", len(skus), total, extra={"total": total})
    return func.HttpResponse(json.dumps({"total": total}), mimetype="application/json")
