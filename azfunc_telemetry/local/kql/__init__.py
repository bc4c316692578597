"""Run Kusto (KQL) queries against the local telemetry store.

A developer can try the queries they will later paste into Application Insights' Logs pane on
their own machine::

    from azfunc_telemetry.local.kql import format_table, run_query

    result = run_query("requests | summarize count(), avg(duration) by name", store)
    print(format_table(result))

The engine implements a documented subset of Kusto (see :mod:`.parser` for the grammar). Anything
outside it raises :class:`KqlError` naming the construct and its position rather than guessing.
``render`` is accepted as the last operator and recorded in :attr:`QueryResult.render`, so portal
queries that chart their result still run and a viewer can draw the chart they asked for.
"""

from __future__ import annotations

from .errors import KqlError
from .evaluator import run_query
from .render import format_table
from .result import QueryResult, RenderHint, TableSource

__all__ = ["KqlError", "QueryResult", "RenderHint", "TableSource", "format_table", "run_query"]
