"""The demo's function app: five functions written the way the samples write them.

Each is an ordinary Azure Functions entry point adopted with ``@azfunc_telemetry.instrument``:
a sync and an async HTTP function that call a (simulated) database and API inside ``span()``, a
queue function that rejects bad orders by raising, a sync report that blocks on slow I/O and so
holds a pool thread, and a fan-out that spreads work over its own threads. :func:`plan` says
which requests arrive, so the demo and its tests agree on what was invoked and what must fail.

The functions live in the package (the ``samples/`` folder is not installed with it), which
keeps ``azfunc-telemetry demo`` working on any machine the package is installed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

import azfunc_telemetry

__all__ = [
    "FUNCTION_NAMES",
    "REPORT_SECONDS",
    "InvalidOrderError",
    "PlannedInvocation",
    "fan_out",
    "http_async",
    "http_sync",
    "plan",
    "queue_worker",
    "slow_report",
]

log = logging.getLogger("demo_app")

REPORT_SECONDS = 0.25
"""How long one ``SlowReport`` blocks its pool thread."""

FUNCTION_NAMES = ("HttpSync", "HttpAsync", "QueueWorker", "SlowReport", "FanOut")
"""The functions' names as the host would know them (their folder names in a v1 app)."""

_CUSTOMERS = ("ada", "grace", "linus", "barbara", "ken", "margaret")
_BASKET = ("sku-1001", "sku-2002", "sku-3003", "sku-4004")


class InvalidOrderError(ValueError):
    """An order the queue function refuses; in Azure the message would be retried, then poisoned."""


def _query_database(table: str, key: str) -> dict[str, str]:
    """A database round trip, reported as a dependency of the invocation that made it."""
    with azfunc_telemetry.span(
        f"SELECT {table}",
        type="SQL",
        target="orders-db.local",
        data=f"SELECT * FROM {table} WHERE id = ?",
    ):
        time.sleep(0.01)
    return {"id": key, "tier": "gold" if len(key) % 2 else "standard"}


@azfunc_telemetry.instrument
def http_sync(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """HTTP, sync: look the customer up, greet them."""
    name = req.params.get("name", "world")
    customer = _query_database("customers", name)
    log.info("Greeting %s", name, extra={"customer_tier": customer["tier"]})
    return func.HttpResponse(f"Hello, {name}!")


@azfunc_telemetry.instrument
async def http_async(req: func.HttpRequest) -> func.HttpResponse:
    """HTTP, async, without a ``context`` parameter: ask two services at once."""
    sku = req.params.get("sku", _BASKET[0])

    async def ask(service: str) -> float:
        async with azfunc_telemetry.span(service, type="HTTP", target=f"{service}.local"):
            await asyncio.sleep(0.02)
        log.info("%s answered for %s", service, sku)
        return 9.5

    price, stock = await asyncio.gather(ask("pricing-api"), ask("stock-api"))
    log.info("Quoted %s", sku, extra={"sku": sku, "price": price})
    return func.HttpResponse(json.dumps({"sku": sku, "price": price, "in_stock": stock > 0}))


@azfunc_telemetry.instrument
def queue_worker(msg: func.QueueMessage) -> None:
    """Queue trigger: accept an order, or raise for one without items."""
    order = json.loads(msg.get_body())
    log.info("Processing order %s", order["id"], extra={"order_id": order["id"]})
    if order["quantity"] <= 0:
        log.warning("Order %s has no items", order["id"], extra={"order_id": order["id"]})
        raise InvalidOrderError(f"order {order['id']} has no items")
    _query_database("orders", order["id"])


@azfunc_telemetry.instrument
def slow_report(req: func.HttpRequest) -> func.HttpResponse:
    """HTTP, sync, slow: blocks on I/O for a while, holding one of the pool's threads."""
    log.info("Building the %s report", req.params.get("period", "daily"))
    with azfunc_telemetry.span("reports-share", type="Azure blob", target="reports.local"):
        time.sleep(REPORT_SECONDS)
    log.info("Report ready")
    return func.HttpResponse("report ready")


def _price_item(sku: str) -> float:
    log.info("Priced %s in %s", sku, threading.current_thread().name, extra={"sku": sku})
    return 9.5


def _audit(context: func.Context, total: float) -> None:
    # The worker's documented way to tag a thread of one's own with the invocation.
    storage: Any = context.thread_local_storage
    storage.invocation_id = context.invocation_id
    try:
        log.info("Audit record written for %.2f in %s", total, threading.current_thread().name)
    finally:
        storage.invocation_id = None


@azfunc_telemetry.instrument
def fan_out(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """HTTP, sync: price a basket on several threads, then audit on a thread of its own."""
    with azfunc_telemetry.InvocationExecutor(max_workers=2, thread_name_prefix="pricing") as pool:
        total = sum(pool.map(_price_item, _BASKET))
    auditor = threading.Thread(target=_audit, args=(context, total), name="auditor")
    auditor.start()
    auditor.join()
    log.info("Basket total %.2f", total, extra={"items": len(_BASKET)})
    return func.HttpResponse(f"{total:.2f}")


@dataclass(frozen=True)
class PlannedInvocation:
    """One trigger arriving: which function, with which bindings, and whether it must fail."""

    function_name: str
    function: Callable[..., Any]
    bindings: dict[str, Any] = field(default_factory=dict)
    fails: bool = False


def _http(function: str, **params: str) -> func.HttpRequest:
    return func.HttpRequest("GET", f"http://localhost:7071/api/{function}", params=params, body=b"")


def plan(rounds: int = 12) -> list[PlannedInvocation]:
    """The invocations the demo runs, interleaved as a busy app would receive them.

    Each round brings two ``HttpSync``, two ``HttpAsync``, one ``QueueWorker`` (every third one
    fails), one ``SlowReport`` and, every other round, one ``FanOut``: with the defaults 78
    invocations, more sync work than a 4-thread pool can start at once.
    """
    planned: list[PlannedInvocation] = []
    for index in range(rounds):
        customer = _CUSTOMERS[index % len(_CUSTOMERS)]
        sku = _BASKET[index % len(_BASKET)]
        quantity = 0 if index % 3 == 2 else index + 1
        body = json.dumps({"id": f"order-{index + 1:03d}", "quantity": quantity}).encode()
        planned += [
            PlannedInvocation("HttpSync", http_sync, {"req": _http("HttpSync", name=customer)}),
            PlannedInvocation("HttpAsync", http_async, {"req": _http("HttpAsync", sku=sku)}),
            PlannedInvocation(
                "QueueWorker",
                queue_worker,
                {"msg": func.QueueMessage(id=f"msg-{index + 1}", body=body)},
                fails=quantity <= 0,
            ),
            PlannedInvocation("SlowReport", slow_report, {"req": _http("SlowReport")}),
            PlannedInvocation("HttpSync", http_sync, {"req": _http("HttpSync", name="guest")}),
            PlannedInvocation("HttpAsync", http_async, {"req": _http("HttpAsync")}),
        ]
        if index % 2 == 0:
            planned.append(PlannedInvocation("FanOut", fan_out, {"req": _http("FanOut")}))
    return planned
