"""The KQL cookbook: the queries the README offers for pasting into Application Insights.

They are kept here as data so that one text serves three readers: the README (through
:func:`render_markdown`), ``azfunc-telemetry demo`` (which runs them against its local store and
prints the answers) and the tests (which run each one against a real workload and check the
rows). Every query is valid Kusto for the Application Insights Logs pane and stays inside the
subset the local engine evaluates.

The ``requests`` queries keep only rows carrying ``customDimensions.execution_mode``: those are
the ones azfunc_telemetry writes, with the thread-pool data; the Functions host writes its own
``requests`` row for the same invocation without it.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

__all__ = ["COOKBOOK", "INVOCATION_ID_PLACEHOLDER", "CookbookQuery", "render_markdown"]

INVOCATION_ID_PLACEHOLDER = "{invocation_id}"
"""Marks where a query needs an invocation id; replace it before running the query."""


class CookbookQuery(NamedTuple):
    """One recipe: a title, what it answers, and the KQL.

    Attributes:
        title: Short heading, also printed by the demo above the query's result.
        description: One paragraph on what the query answers and how to adapt it.
        kql: The query text; it may contain placeholders such as ``{invocation_id}``.
    """

    title: str
    description: str
    kql: str

    def filled(self, **values: str) -> str:
        """The query with each ``{name}`` placeholder replaced by ``values[name]``.

        Plain replacement rather than ``str.format``, so braces elsewhere in a query (for
        example in ``dynamic({})``) never need escaping.
        """
        text = self.kql
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text


COOKBOOK: tuple[CookbookQuery, ...] = (
    CookbookQuery(
        title="All logs of one invocation",
        description=(
            "Every record one invocation logged, in order, whichever thread or task logged it. "
            f"Replace `{INVOCATION_ID_PLACEHOLDER}` with the id from `context.invocation_id`, "
            "from a `requests` row (`customDimensions.invocation_id`) or from the host's log "
            "stream; the demo fills in an invocation of its fan-out function."
        ),
        kql="""traces
| where tostring(customDimensions.invocation_id) == "{invocation_id}"
| project timestamp, level = tostring(customDimensions.level),
    logger = tostring(customDimensions.logger_name), message
| order by timestamp asc""",
    ),
    CookbookQuery(
        title="Slowest invocations by function",
        description=(
            "Per function: how many invocations, and their median, 95th percentile and slowest "
            "duration in milliseconds, slowest first. Add "
            "`| where timestamp > ago(1h)` after the first line to look at the last hour only."
        ),
        kql="""requests
| where isnotempty(tostring(customDimensions.execution_mode))
| summarize invocations = count(), p50_ms = percentile(duration, 50),
    p95_ms = percentile(duration, 95), max_ms = max(duration) by function_name = name
| order by p95_ms desc""",
    ),
    CookbookQuery(
        title="Failures with their exceptions",
        description=(
            "Each failed invocation with the exception that ended it, joined on the invocation "
            "id both rows carry."
        ),
        kql="""requests
| where success == false and isnotempty(tostring(customDimensions.execution_mode))
| project timestamp, function_name = name, resultCode,
    invocation_id = tostring(customDimensions.invocation_id)
| join kind=inner (
    exceptions
    | extend invocation_id = tostring(customDimensions.invocation_id)
    | project invocation_id, exception_type = type, exception_message = outerMessage
  ) on invocation_id
| project timestamp, function_name, resultCode, exception_type, exception_message, invocation_id
| order by timestamp desc""",
    ),
    CookbookQuery(
        title="Invocations that waited for the thread pool",
        description=(
            "Sync invocations that started late because every thread of the worker's pool was "
            "busy: `pool_wait_ms` is the measured wait (where the dispatcher reports it), "
            "`pool_saturated` says the pool held more sync work than threads when the "
            "invocation started (`inflight_sync_at_start + pool_queue_depth > pool_size`), and "
            "`pool_queue_depth` how much was queued. Many rows here mean sync functions block on "
            "I/O: make them `async def`, raise `PYTHON_THREADPOOL_THREAD_COUNT`, or add worker "
            "processes."
        ),
        kql="""requests
| where tostring(customDimensions.execution_mode) == "sync"
| extend pool_wait_ms = todouble(customDimensions.pool_wait_ms),
    pool_saturated = tostring(customDimensions.pool_saturated) == "true",
    pool_queue_depth = toint(customDimensions.pool_queue_depth),
    pool_size = toint(customDimensions.pool_size)
| where pool_wait_ms >= 5 or pool_saturated == true
| project timestamp, function_name = name, pool_wait_ms, pool_saturated, pool_queue_depth,
    pool_size, duration, invocation_id = tostring(customDimensions.invocation_id)
| order by pool_wait_ms desc nulls last, timestamp asc""",
    ),
    CookbookQuery(
        title="Logs joined to their request by operation_Id",
        description=(
            "Each log record next to the invocation it belongs to: function, outcome and "
            "duration come from the `requests` row with the same `operation_Id` (the W3C trace "
            "id the host passed in `traceparent`)."
        ),
        kql="""traces
| where isnotempty(tostring(customDimensions.invocation_id))
| project timestamp, operation_Id, invocation_id = tostring(customDimensions.invocation_id),
    message
| join kind=inner (
    requests
    | where isnotempty(tostring(customDimensions.execution_mode))
    | project operation_Id, function_name = name, success, request_duration_ms = duration
  ) on operation_Id
| project timestamp, function_name, success, request_duration_ms, message, invocation_id
| order by timestamp desc""",
    ),
    CookbookQuery(
        title="Concurrency over time",
        description=(
            "The peak number of invocations in flight (all, sync, async) next to the pool's "
            "size, per minute, as a chart in the portal. The library reports these metrics "
            "every `metrics_interval_s` (60 s by default) from each worker process."
        ),
        kql="""customMetrics
| where name in ("azfunc_inflight_invocations", "azfunc_inflight_sync",
    "azfunc_inflight_async", "azfunc_pool_size")
| summarize peak = max(value) by bin(timestamp, 1m), name
| order by timestamp asc, name asc
| render timechart""",
    ),
)
"""The recipes, in the order the README shows them."""


def render_markdown() -> str:
    """The README's cookbook section body: per query a heading, its description and the KQL.

    Descriptions are wrapped at 100 columns like the rest of the README.

    Returns:
        Markdown ending in a newline, pasted between the README's cookbook markers.
    """
    parts = []
    for query in COOKBOOK:
        description = textwrap.fill(
            query.description, width=100, break_long_words=False, break_on_hyphens=False
        )
        parts.append(f"### {query.title}\n\n{description}\n\n```kusto\n{query.kql}\n```\n")
    return "\n".join(parts)
