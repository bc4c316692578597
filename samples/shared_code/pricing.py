"""The pricing service, simulated: an HTTP API with an async and a blocking client."""

from __future__ import annotations

import asyncio
import logging
import time

import azfunc_telemetry

__all__ = ["LATENCY_SECONDS", "PRICES", "price", "quote"]

log = logging.getLogger(__name__)

LATENCY_SECONDS = 0.01
"""How long one simulated call to the service takes."""

PRICES = {"sku-1001": 12.5, "sku-2002": 7.25, "sku-3003": 3.0, "sku-4004": 20.0}
"""The price list; unknown items cost 9.99."""

_SERVICE = "pricing.example.internal"


async def quote(sku: str) -> float:
    """Ask the pricing API for one item's price without blocking the event loop."""
    async with azfunc_telemetry.span(
        f"GET /prices/{sku}", type="HTTP", target=_SERVICE, data=f"https://{_SERVICE}/prices/{sku}"
    ) as call:
        await asyncio.sleep(LATENCY_SECONDS)
        call.result_code = 200
    value = PRICES.get(sku, 9.99)
    log.info("Quoted %s at %.2f", sku, value, extra={"sku": sku})
    return value


def price(sku: str) -> float:
    """The same call with a blocking client, for code that runs on threads."""
    with azfunc_telemetry.span(
        f"GET /prices/{sku}", type="HTTP", target=_SERVICE, data=f"https://{_SERVICE}/prices/{sku}"
    ) as call:
        time.sleep(LATENCY_SECONDS)
        call.result_code = 200
    value = PRICES.get(sku, 9.99)
    log.info("Priced %s at %.2f", sku, value, extra={"sku": sku})
    return value
