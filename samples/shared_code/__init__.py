"""Code the sample functions share: a database and a pricing service, both simulated.

Every call is wrapped in ``azfunc_telemetry.span``, so it shows up in Application Insights as a
dependency of the invocation that made it, and records logged inside it nest under it.
"""

from __future__ import annotations

__all__: list[str] = []
