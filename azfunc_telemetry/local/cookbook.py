"""The KQL cookbook: the queries the README offers for pasting into Application Insights.

They are kept here as data so that one text serves three readers: the README (through
:func:`render_markdown`), ``azfunc-telemetry demo`` (which runs them against its local store and
prints the answers) and the tests (which run each one against a real workload and check the
rows). Every query is valid Kusto for the Application Insights Logs pane and stays inside the
subset the local engine evaluates.

They read telemetry in the shape Application Insights holds for a function app: one ``requests``
row per invocation (the Functions host's, or the library's where the host writes none), the
library's ``InProc`` dependency under it with the worker-side timing and the thread-pool data
(rows carrying ``customDimensions.execution_mode``), and logs carrying the host's dimensions
(``InvocationId``, ``LogLevel``).
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
            "Every record one invocation logged, traces and exceptions, in order, whichever "
            "thread or task logged it, with the level spelled as the host spells it: what the "
            "portal's invocation view shows. Replace "
            f"`{INVOCATION_ID_PLACEHOLDER}` with the id from `context.invocation_id`, from a "
            "`requests` row (`customDimensions.InvocationId`) or from the host's log stream; "
            "the demo fills in an invocation of its fan-out function."
        ),
        kql="""union traces, exceptions
| where tostring(customDimensions.InvocationId) == "{invocation_id}"
| project timestamp, itemType, level = tostring(customDimensions.LogLevel),
    logger = tostring(customDimensions.logger_name), message
| order by timestamp asc""",
    ),
    CookbookQuery(
        title="Slowest invocations by function",
        description=(
            "Per function: how many invocations, and the median, 95th percentile and slowest "
            "time the worker spent running them, in milliseconds, slowest first. The rows "
            "carrying `execution_mode` are the library's: `InProc` dependencies under the "
            "host's requests, or `requests` where the host writes none, hence the `union`. Add "
            "`| where timestamp > ago(1h)` after the first line to look at the last hour only."
        ),
        kql="""union requests, dependencies
| where isnotempty(tostring(customDimensions.execution_mode))
| summarize invocations = count(), p50_ms = percentile(duration, 50),
    p95_ms = percentile(duration, 95), max_ms = max(duration) by function_name = name
| order by p95_ms desc""",
    ),
    CookbookQuery(
        title="Failures with their exceptions",
        description=(
            "Each failed invocation, as the portal counts it (one `requests` row per "
            "invocation), with the exception that ended it, joined on the invocation id both "
            "rows carry."
        ),
        kql="""requests
| where success == false
| project timestamp, function_name = name, resultCode,
    invocation_id = tostring(customDimensions.InvocationId)
| join kind=inner (
    exceptions
    | extend invocation_id = tostring(customDimensions.InvocationId)
    | project invocation_id, exception_type = type, exception_message = outerMessage
  ) on invocation_id
| project timestamp, function_name, resultCode, exception_type, exception_message, invocation_id
| order by timestamp desc""",
    ),
    CookbookQuery(
        title="Time before the function ran",
        description=(
            "Per function, how long invocations waited between the host's request starting "
            "and the worker running the function: dispatch, plus the wait for a thread of the "
            "pool for sync functions. It is the host's `requests` row's duration minus the "
            "library's `InProc` dependency's, matched by `operation_Id`."
        ),
        kql="""requests
| project operation_Id, function_name = name, host_ms = duration
| join kind=inner (
    dependencies
    | where type == "InProc"
    | project operation_Id, worker_ms = duration
  ) on operation_Id
| extend before_ms = host_ms - worker_ms
| summarize invocations = count(), avg_before_ms = round(avg(before_ms), 1),
    p95_before_ms = round(percentile(before_ms, 95), 1) by function_name
| order by p95_before_ms desc""",
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
        kql="""union requests, dependencies
| where tostring(customDimensions.execution_mode) == "sync"
| extend pool_wait_ms = todouble(customDimensions.pool_wait_ms),
    pool_saturated = tostring(customDimensions.pool_saturated) == "true",
    pool_queue_depth = toint(customDimensions.pool_queue_depth),
    pool_size = toint(customDimensions.pool_size)
| where pool_wait_ms >= 5 or pool_saturated == true
| project timestamp, function_name = name, pool_wait_ms, pool_saturated, pool_queue_depth,
    pool_size, duration, invocation_id = tostring(customDimensions.InvocationId)
| order by pool_wait_ms desc nulls last, timestamp asc""",
    ),
    CookbookQuery(
        title="Logs joined to their request by operation_Id",
        description=(
            "Each log record next to the invocation it belongs to: function, outcome and "
            "duration come from the invocation's `requests` row, which has the same "
            "`operation_Id` (the W3C trace id the host passed in `traceparent`)."
        ),
        kql="""traces
| where isnotempty(tostring(customDimensions.InvocationId))
| project timestamp, operation_Id, invocation_id = tostring(customDimensions.InvocationId),
    message
| join kind=inner (
    requests
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
