"""The app's database, simulated: each query takes a few milliseconds of blocking I/O."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import azfunc_telemetry

__all__ = ["QUERY_SECONDS", "Customer", "find_customer", "reserve_stock"]

log = logging.getLogger(__name__)

QUERY_SECONDS = 0.005
"""How long one simulated query blocks."""

_GOLD_CUSTOMERS = frozenset({"ada", "grace"})


@dataclass(frozen=True)
class Customer:
    """A row of the customers table."""

    name: str
    tier: str


def find_customer(name: str) -> Customer:
    """Look a customer up; reported as a SQL dependency."""
    with azfunc_telemetry.span(
        "SELECT customers",
        type="SQL",
        target="customers-db",
        data="SELECT name, tier FROM customers WHERE name = ?",
    ):
        time.sleep(QUERY_SECONDS)
    return Customer(name, "gold" if name.lower() in _GOLD_CUSTOMERS else "standard")


def reserve_stock(sku: str, quantity: int) -> str:
    """Reserve stock for an order and return the reservation id."""
    with azfunc_telemetry.span(
        "UPDATE stock",
        type="SQL",
        target="orders-db",
        data="UPDATE stock SET reserved = reserved + ? WHERE sku = ?",
        properties={"sku": sku},
    ):
        time.sleep(QUERY_SECONDS)
        # Logged inside the span: Application Insights nests this record under the dependency.
        log.info("Reserved %d x %s", quantity, sku, extra={"sku": sku, "quantity": quantity})
    return f"res-{sku}-{quantity}"
