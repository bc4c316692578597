"""Connection string parsing for Application Insights.

The portal hands users strings such as ``InstrumentationKey=...;IngestionEndpoint=https://
westeurope-5.in.applicationinsights.azure.com/;...``. opencensus-ext-azure's parser rejects a
trailing ``;``, any value containing ``=``, whitespace around keys, and upper-case GUIDs, and
appends ``/v2.1/track`` to an endpoint that already ends in ``/``.
This parser is tolerant where the service is tolerant and precise about what is wrong otherwise, so
the warning a user sees names the fault.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "DEFAULT_INGESTION_ENDPOINT",
    "ConnectionInfo",
    "parse_connection_string",
    "track_url",
    "unquote",
]

DEFAULT_INGESTION_ENDPOINT = "https://dc.services.visualstudio.com"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class ConnectionInfo(NamedTuple):
    """Where to send telemetry and under which instrumentation key."""

    instrumentation_key: str
    ingestion_endpoint: str


#: Quote pairs a copied value may come wrapped in: plain, and typographic from documents.
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}


def unquote(value: str) -> str | None:
    """``value`` without the quotes around it, or ``None`` when it is not quoted.

    A connection string copied with its quotes (from the portal's JSON view, a shell line or a
    document) is otherwise read as a first field named ``"InstrumentationKey``.
    """
    text = value.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return None


def track_url(endpoint: str) -> str:
    """Join an ingestion endpoint and the track path with exactly one slash."""
    return endpoint.rstrip("/") + "/v2.1/track"


def parse_connection_string(value: str) -> ConnectionInfo:
    """Parse a connection string into key and endpoint.

    Args:
        value: the raw setting, e.g. ``InstrumentationKey=<guid>;IngestionEndpoint=https://...``.

    Returns:
        The instrumentation key (lower-cased) and the ingestion endpoint without a trailing slash.

    Raises:
        ValueError: with a message that says which part is wrong. The message never contains the
            key itself, so it is safe to log.
    """
    fields: dict[str, str] = {}
    for position, part in enumerate(value.split(";"), start=1):
        if not part.strip():
            continue
        name, sep, field_value = part.partition("=")
        if not sep:
            # Named by position, never quoted: a bare key pasted here is a secret.
            raise ValueError(f"segment {position} is not of the form Name=value")
        fields[name.strip().lower()] = field_value.strip()
    auth = fields.get("authorization")
    if auth is not None and auth.lower() != "ikey":
        raise ValueError(f"Authorization={auth!r} is not supported (only ikey)")
    key = fields.get("instrumentationkey", "")
    if not key:
        raise ValueError("InstrumentationKey is missing")
    if not _GUID.match(key):
        raise ValueError("InstrumentationKey is not a GUID")
    endpoint = fields.get("ingestionendpoint", "")
    if not endpoint:
        suffix = fields.get("endpointsuffix", "").strip(".")
        location = fields.get("location", "")
        if suffix:
            prefix = f"{location}." if location else ""
            endpoint = f"https://{prefix}dc.{suffix}"
        else:
            endpoint = DEFAULT_INGESTION_ENDPOINT
    if not re.match(r"^https?://[^/\s]+", endpoint):
        raise ValueError("IngestionEndpoint is not an http(s) URL")
    return ConnectionInfo(instrumentation_key=key.lower(), ingestion_endpoint=endpoint.rstrip("/"))
