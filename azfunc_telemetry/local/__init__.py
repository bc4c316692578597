"""Developer tools: a local Application Insights stand-in and the ``azfunc-telemetry`` command.

A telemetry sink, a SQLite store laid out like Application Insights, KQL over it, the demo, the
browser viewer, and :mod:`.cli`, the command that runs them.

The modules of this package are imported on demand (``azfunc_telemetry.local.sink``,
``azfunc_telemetry.local.store``, ...) so that using the library in a function app never loads
the local tooling.
"""

from __future__ import annotations

__all__: list[str] = []
