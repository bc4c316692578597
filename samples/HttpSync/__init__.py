"""HTTP trigger, sync: greet a customer after looking them up in the database.

Adopting azfunc_telemetry is the ``import`` and the decorator; the rest is an ordinary function.
The response carries the invocation id, so a caller can find this invocation's logs with the
README's "All logs of one invocation" query.
"""

# ruff: noqa: N999 - the folder name is the function's name, as the Functions host requires

import logging

import azure.functions as func
from shared_code import database

import azfunc_telemetry

__all__ = ["main"]

log = logging.getLogger(__name__)


@azfunc_telemetry.instrument
def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Say hello to ``name`` (query string or JSON body), or answer 400 without one."""
    name = req.params.get("name")
    if not name:
        try:
            body = req.get_json()
        except ValueError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
    headers = {"x-invocation-id": context.invocation_id}
    if not name:
        log.warning("Request without a name", extra={"method": req.method})
        return func.HttpResponse(
            "Pass a name on the query string or in the request body",
            status_code=400,
            headers=headers,
        )
    customer = database.find_customer(name)
    log.info("Greeting %s", name, extra={"customer_tier": customer.tier})
    return func.HttpResponse(f"Hello, {name}!", headers=headers)
