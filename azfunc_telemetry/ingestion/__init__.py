"""Application Insights ingestion endpoint: the ``POST /v2.1/track`` contract and its server.

The test emulator and the local sink both stand in for the real "Breeze" endpoint, so they share
one implementation of what it accepts and how it answers. :mod:`.protocol` holds that contract as
pure functions and types (decoding, validation, responses); :mod:`.server` serves it over HTTP on
the loopback interface. Everything is importable from this package.
"""

from __future__ import annotations

from azfunc_telemetry.ingestion.protocol import (
    MAX_ITEM_BYTES,
    MAX_ITEMS_PER_BATCH,
    IncomingRequest,
    IngestionError,
    Reply,
    SizedItems,
    build_response,
    check_items,
    decode_body,
    decompress_body,
    error_reply,
    json_reply,
    parse_envelope_time,
    parse_items,
    parse_sized_items,
    validate_item,
)
from azfunc_telemetry.ingestion.server import IngestionServer, ItemsCallback

__all__ = [
    "MAX_ITEMS_PER_BATCH",
    "MAX_ITEM_BYTES",
    "IncomingRequest",
    "IngestionError",
    "IngestionServer",
    "ItemsCallback",
    "Reply",
    "SizedItems",
    "build_response",
    "check_items",
    "decode_body",
    "decompress_body",
    "error_reply",
    "json_reply",
    "parse_envelope_time",
    "parse_items",
    "parse_sized_items",
    "validate_item",
]
