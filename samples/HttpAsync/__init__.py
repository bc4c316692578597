"""HTTP trigger, async: quote a basket by asking the pricing service for every item at once.

``async def`` functions run on the worker's event loop, not its thread pool, so waiting on the
network here holds no thread. Records logged in the tasks ``asyncio.gather`` starts are tagged
with this invocation without any extra code.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import asyncio
import json
import logging

import azure.functions as func
from shared_code import pricing

import azfunc_telemetry

__all__ = ["main"]

log = logging.getLogger(__name__)


@azfunc_telemetry.instrument
async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Price the comma-separated ``skus`` (default: two items) and return the total as JSON."""
    skus = [sku for sku in req.params.get("skus", "sku-1001,sku-2002").split(",") if sku]
    prices = await asyncio.gather(*(pricing.quote(sku) for sku in skus))
    total = round(sum(prices), 2)
    log.info("Quoted %d items", len(skus), extra={"item_count": len(skus), "total": total})
    body = {
        "items": dict(zip(skus, prices, strict=True)),
        "total": total,
        "invocation_id": context.invocation_id,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
