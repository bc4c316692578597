"""Queue trigger with a queue output binding: reserve stock for an order, pass it on.

The output goes through ``func.Out``, the way the developer guide writes several outputs. A bad
order raises: the host retries the message and finally moves it to ``orders-poison``, and
Application Insights gets a failed request with the exception attached to it.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import json
import logging

import azure.functions as func
from shared_code import database

import azfunc_telemetry

__all__ = ["InvalidOrderError", "main"]

log = logging.getLogger(__name__)


class InvalidOrderError(ValueError):
    """A queue message that is not an order this app can fulfil."""


def _parse(order: func.QueueMessage) -> tuple[str, str, int]:
    try:
        payload = json.loads(order.get_body())
        return str(payload["id"]), str(payload["sku"]), int(payload["quantity"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidOrderError(f"message {order.id} is not an order: {error!r}") from error


@azfunc_telemetry.instrument
def main(order: func.QueueMessage, processed: func.Out[str], context: func.Context) -> None:
    """Reserve the order's stock and put a confirmation on the ``orders-processed`` queue."""
    order_id, sku, quantity = _parse(order)
    dimensions = {"order_id": order_id, "sku": sku, "quantity": quantity}
    if quantity <= 0:
        log.warning("Order %s has no items", order_id, extra=dimensions)
        raise InvalidOrderError(f"order {order_id} has no items")
    log.info("Processing order %s", order_id, extra=dimensions)
    reservation = database.reserve_stock(sku, quantity)
    processed.set(json.dumps({"order_id": order_id, "reservation": reservation}))
