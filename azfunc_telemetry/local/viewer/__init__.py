"""A local web viewer for the telemetry store: invocations, a concurrency timeline, a KQL box.

``azfunc-telemetry ui`` serves it on 127.0.0.1 from plain HTML, SVG and JavaScript shipped in
the package: no build step, nothing fetched at run time. :mod:`.reader` reads what the page shows
(read-only, as the plain data of :mod:`.records`), :mod:`.queries` runs the KQL box through the
CLI's engine, :mod:`.server` serves it.
"""

from __future__ import annotations

from .server import (
    CONTENT_SECURITY_POLICY,
    DEFAULT_UI_PORT,
    RemoteBindRefusedError,
    ViewerServer,
    is_loopback,
)

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEFAULT_UI_PORT",
    "RemoteBindRefusedError",
    "ViewerServer",
    "is_loopback",
]
