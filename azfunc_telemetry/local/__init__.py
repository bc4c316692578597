"""Local Application Insights stand-in: a telemetry sink, a SQLite store and KQL queries.

The modules of this package are imported on demand (``azfunc_telemetry.local.sink``,
``azfunc_telemetry.local.store``, ...) so that using the library in a function app never loads
the local tooling.
"""

from __future__ import annotations

__all__: list[str] = []
