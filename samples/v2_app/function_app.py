"""The v2 programming model: functions declared with decorators in one ``function_app.py``.

One call, ``azfunc_telemetry.instrument_app(app)`` after the last function, instruments them all
(and any registered later through blueprints). A v1 and a v2 app cannot share one folder in
Azure, so this app has its own ``host.json`` and ``requirements.txt``.
"""

import asyncio
import json
import logging

import azure.functions as func

import azfunc_telemetry

__all__ = ["app"]

log = logging.getLogger("v2_app")

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    """Sync HTTP: greet ``name``."""
    name = req.params.get("name", "world")
    log.info("Greeting %s", name, extra={"customer": name})
    return func.HttpResponse(f"Hello, {name}!")


@app.route(route="quote", methods=["GET"])
async def quote(req: func.HttpRequest) -> func.HttpResponse:
    """Async HTTP: price an item with a (simulated) call to the pricing service."""
    sku = req.params.get("sku", "sku-1001")
    async with azfunc_telemetry.span(f"GET /prices/{sku}", type="HTTP", target="pricing"):
        await asyncio.sleep(0.01)
    log.info("Quoted %s", sku, extra={"sku": sku})
    return func.HttpResponse(json.dumps({"sku": sku, "price": 12.5}), mimetype="application/json")


@app.queue_trigger(arg_name="order", queue_name="orders", connection="AzureWebJobsStorage")
@app.queue_output(
    arg_name="processed", queue_name="orders-processed", connection="AzureWebJobsStorage"
)
def process_order(order: func.QueueMessage, processed: func.Out[str]) -> None:
    """Queue trigger with a queue output: confirm the order on ``orders-processed``."""
    payload = json.loads(order.get_body())
    log.info("Processing order %s", payload["id"], extra={"order_id": payload["id"]})
    processed.set(json.dumps({"order_id": payload["id"], "status": "accepted"}))


azfunc_telemetry.instrument_app(app)
