"""Real Kusto queries from public Microsoft documentation and articles, with their answers.

Each entry records where the query was published, the query as run (workspace table and column
names are changed to the classic ones the local store uses, ``AppRequests`` -> ``requests``, and
that is noted), and how to compute the expected answer independently: plain Python over the
store's raw rows, or the output the documentation itself shows for self-contained examples.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

Rows = dict[str, list[dict[str, Any]]]
UTC = timezone.utc

APPREQUESTS = "https://learn.microsoft.com/azure/azure-monitor/reference/queries/apprequests"
APPDEPENDENCIES = (
    "https://learn.microsoft.com/azure/azure-monitor/reference/queries/appdependencies"
)
APPEXCEPTIONS = "https://learn.microsoft.com/azure/azure-monitor/reference/queries/appexceptions"
APPTRACES = "https://learn.microsoft.com/azure/azure-monitor/reference/queries/apptraces"
FUNCTIONS = "https://learn.microsoft.com/azure/azure-functions/analyze-telemetry-data"
REST = "https://learn.microsoft.com/rest/api/application-insights/query/get"
SKILLS = "https://github.com/microsoft/azure-skills/blob/main/skills/azure-diagnostics/references/kql-queries.md"
BLOG = "https://4pp1n51ght5.com/tag/appinsights/"
BLOG_REQUESTS = "https://4pp1n51ght5.com/tag/requests/"
BLOG_AUTHOR = "https://4pp1n51ght5.com/author/4pp1n51ght5/"
GIST_FN = "https://gist.github.com/binduchinnasamy/0b5bb59097479b9df2af894a616741ea"
GIST_500 = "https://gist.github.com/fvztdk/836e3baeb0bcf536a3f933717d1c07fb"
GIST_EVENTS = "https://gist.github.com/pacodelacruz/28ce16d1544c0024186099c607c33ff9"
GUIDE = (
    "https://yeongseon.github.io/azure-functions-practical-guide/troubleshooting/kql/correlation"
)
KUSTO = "https://learn.microsoft.com/kusto/query/"


@dataclass(frozen=True)
class CorpusQuery:
    """One published query and its independently computed answer."""

    source: str
    query: str
    expected: Callable[[Rows], list[tuple[Any, ...]]]
    ordered: bool = False
    adapted: str = ""


def s(value: Any) -> str:
    """A string cell as Kusto shows it: never null."""
    return "" if value is None else value


def counts(
    rows: list[dict[str, Any]], *keys: Callable[[dict[str, Any]], Any]
) -> list[tuple[Any, ...]]:
    """``summarize count() by keys`` done by hand."""
    counter = Counter(tuple(key(row) for key in keys) for row in rows)
    return [(*key, count) for key, count in counter.items()]


def rank(values: list[float], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


def bin_time(moment: datetime, size: timedelta) -> datetime:
    origin = datetime(1, 1, 1, tzinfo=UTC)
    return origin + ((moment - origin) // size) * size


def _text(value: Any) -> str:
    """A cell as ``contains`` sees it: JSON for bags and lists, ISO text for datetimes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def failed(row: dict[str, Any]) -> bool:
    return row["success"] is False


def _groups(
    rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


def _ops_performance(d: Rows) -> list[tuple[Any, ...]]:
    out = []
    for name, members in _groups(d["requests"], lambda r: s(r["operation_Name"])).items():
        durations = [r["duration"] for r in members]
        out.append(
            (
                name,
                sum(r["itemCount"] for r in members),
                sum(durations) / len(durations),
                rank(durations, 50),
                rank(durations, 95),
                rank(durations, 99),
            )
        )
    return sorted(out, key=lambda row: -row[1])


def _dependency_perf(d: Rows) -> list[tuple[Any, ...]]:
    out = []
    for (target, kind), members in _groups(
        d["dependencies"], lambda r: (s(r["target"]), s(r["type"]))
    ).items():
        out.append(
            (
                target,
                kind,
                sum(r["itemCount"] for r in members),
                sum(r["duration"] for r in members) / len(members),
            )
        )
    return out


def _join_failed_with_traces(d: Rows) -> list[tuple[Any, ...]]:
    bad = [r for r in d["requests"] if failed(r)]
    first: dict[str, dict[str, Any]] = {}
    for r in bad:
        first.setdefault(s(r["operation_Id"]), r)
    return [
        (s(first[s(t["operation_Id"])]["name"]), s(t["message"]))
        for t in d["traces"]
        if s(t["operation_Id"]) in first
    ]


def _latest_per_function(d: Rows) -> list[tuple[Any, ...]]:
    best: dict[str, dict[str, Any]] = {}
    for r in d["requests"]:
        name = s(r["name"])
        if name not in best or r["timestamp"] > best[name]["timestamp"]:
            best[name] = r
    return [(name, row["timestamp"], row["duration"]) for name, row in best.items()]


def _union_ops(d: Rows) -> list[tuple[Any, ...]]:
    op = s(d["exceptions"][0]["operation_Id"]) if d["exceptions"] else ""
    rows = []
    for table in ("requests", "dependencies", "exceptions", "traces"):
        rows += [(table, r["timestamp"]) for r in d[table] if s(r["operation_Id"]) == op]
    return sorted(rows, key=lambda row: row[1])


QUERIES: list[CorpusQuery] = [
    # --- Application Insights query packs (workspace names -> classic) --------------------------
    CorpusQuery(
        APPREQUESTS,
        "requests | where timestamp > ago(12h)"
        " | summarize avgRequestDuration=avg(duration) by bin(timestamp, 10m), cloud_RoleName"
        " | render timechart",
        lambda d: [
            (t, role, sum(x) / len(x))
            for (t, role), x in (
                (k, [r["duration"] for r in v])
                for k, v in _groups(
                    d["requests"],
                    lambda r: (
                        bin_time(r["timestamp"], timedelta(minutes=10)),
                        s(r["cloud_RoleName"]),
                    ),
                ).items()
            )
        ],
        adapted="AppRequests/TimeGenerated/DurationMs/_ResourceId -> classic names",
    ),
    CorpusQuery(
        APPREQUESTS,
        "requests | summarize totalCount=sum(itemCount) by bin(timestamp, 30m),"
        " cloud_RoleName | render timechart",
        lambda d: [
            (k[0], k[1], sum(r["itemCount"] for r in v))
            for k, v in _groups(
                d["requests"],
                lambda r: (bin_time(r["timestamp"], timedelta(minutes=30)), s(r["cloud_RoleName"])),
            ).items()
        ],
        adapted="workspace -> classic names",
    ),
    CorpusQuery(
        APPREQUESTS,
        "requests | summarize requestCount=sum(itemCount), avgDuration=avg(duration)"
        " by performanceBucket | order by avgDuration asc | project-away avgDuration"
        " | render barchart",
        lambda d: [
            (k, sum(r["itemCount"] for r in v))
            for k, v in sorted(
                _groups(d["requests"], lambda r: s(r["performanceBucket"])).items(),
                key=lambda kv: sum(r["duration"] for r in kv[1]) / len(kv[1]),
            )
        ],
        ordered=True,
        adapted="workspace -> classic names",
    ),
    CorpusQuery(
        APPREQUESTS,
        "requests | summarize RequestsCount=sum(itemCount), AverageDuration=avg(duration),"
        " percentiles(duration, 50, 95, 99) by operation_Name | order by RequestsCount desc",
        _ops_performance,
        adapted="workspace -> classic names; _ResourceId dropped",
    ),
    CorpusQuery(
        APPREQUESTS,
        "requests | where success == false"
        " | summarize failedCount=sum(itemCount) by name | top 10 by failedCount desc",
        lambda d: counts([r for r in d["requests"] if failed(r)], lambda r: s(r["name"])),
    ),
    CorpusQuery(
        APPREQUESTS,
        "requests | where success == false | summarize failedCount=sum(itemCount)"
        " by resultCode | top 10 by failedCount desc | render piechart",
        lambda d: counts([r for r in d["requests"] if failed(r)], lambda r: s(r["resultCode"])),
    ),
    CorpusQuery(
        APPDEPENDENCIES,
        "dependencies | summarize totalCount=sum(itemCount), avgDuration=avg(duration)"
        " by target, type",
        _dependency_perf,
        adapted="workspace -> classic names",
    ),
    CorpusQuery(
        APPDEPENDENCIES,
        "dependencies | where success == false"
        " | summarize failedCount=sum(itemCount) by name | top 10 by failedCount desc",
        lambda d: counts([r for r in d["dependencies"] if failed(r)], lambda r: s(r["name"])),
    ),
    CorpusQuery(
        APPDEPENDENCIES,
        "dependencies | summarize count() by bin(timestamp, 1h), type",
        lambda d: counts(
            d["dependencies"],
            lambda r: bin_time(r["timestamp"], timedelta(hours=1)),
            lambda r: s(r["type"]),
        ),
    ),
    CorpusQuery(
        APPEXCEPTIONS,
        "exceptions | summarize count() by problemId | top 10 by count_",
        lambda d: counts(d["exceptions"], lambda r: s(r["problemId"])),
    ),
    CorpusQuery(
        APPEXCEPTIONS,
        "exceptions | where timestamp > ago(24h)"
        " | summarize exceptionCount=sum(itemCount) by bin(timestamp, 30m), type",
        lambda d: [
            (k[0], k[1], len(v))
            for k, v in _groups(
                d["exceptions"],
                lambda r: (bin_time(r["timestamp"], timedelta(minutes=30)), s(r["type"])),
            ).items()
        ],
    ),
    CorpusQuery(
        APPEXCEPTIONS,
        "exceptions | summarize arg_max(timestamp, *) by type"
        " | project timestamp, type, outerMessage",
        lambda d: [
            (
                max(v, key=lambda r: r["timestamp"])["timestamp"],
                k,
                s(max(v, key=lambda r: r["timestamp"])["outerMessage"]),
            )
            for k, v in _groups(d["exceptions"], lambda r: s(r["type"])).items()
        ],
    ),
    CorpusQuery(
        APPTRACES,
        "traces | where severityLevel >= 2 | project timestamp, message, severityLevel"
        " | order by timestamp desc",
        lambda d: sorted(
            [
                (r["timestamp"], s(r["message"]), r["severityLevel"])
                for r in d["traces"]
                if (r["severityLevel"] or -1) >= 2
            ],
            key=lambda row: row[0],
            reverse=True,
        ),
        ordered=True,
    ),
    CorpusQuery(
        APPTRACES,
        "traces | summarize count() by severityLevel",
        lambda d: counts(d["traces"], lambda r: r["severityLevel"]),
    ),
    # --- Azure Functions docs ---------------------------------------------------------------------
    CorpusQuery(
        FUNCTIONS,
        "requests | where timestamp > ago(30m)"
        " | summarize count() by cloud_RoleInstance, bin(timestamp, 1m) | render timechart",
        lambda d: counts(
            d["requests"],
            lambda r: s(r["cloud_RoleInstance"]),
            lambda r: bin_time(r["timestamp"], timedelta(minutes=1)),
        ),
    ),
    CorpusQuery(
        FUNCTIONS,
        'traces | where customDimensions.LogLevel == "Error"',
        lambda d: [
            tuple(r.values())
            for r in d["traces"]
            if r["customDimensions"].get("LogLevel") == "Error"
        ],
    ),
    CorpusQuery(
        FUNCTIONS,
        "traces | extend CustomDimensions = todynamic(tostring(customDimensions))"
        ' | where CustomDimensions.Category == "ScaleControllerLogs"'
        ' | where message == "Instance count changed"'
        " | extend Reason = CustomDimensions.Reason | project timestamp, Reason",
        lambda d: [
            (r["timestamp"], r["customDimensions"].get("Reason"))
            for r in d["traces"]
            if r["customDimensions"].get("Category") == "ScaleControllerLogs"
            and r["message"] == "Instance count changed"
        ],
    ),
    CorpusQuery(
        FUNCTIONS,
        "requests | summarize count() by cloud_RoleInstance",
        lambda d: counts(d["requests"], lambda r: s(r["cloud_RoleInstance"])),
    ),
    # --- REST API and skills reference ------------------------------------------------------------
    CorpusQuery(
        REST,
        "requests | summarize count() by bin(timestamp, 1h)",
        lambda d: counts(d["requests"], lambda r: bin_time(r["timestamp"], timedelta(hours=1))),
    ),
    CorpusQuery(REST, "requests | take 10 | count", lambda d: [(min(10, len(d["requests"])),)]),
    CorpusQuery(
        SKILLS,
        "exceptions | where timestamp > ago(1h) | project timestamp, outerMessage, details"
        " | order by timestamp desc",
        lambda d: sorted(
            [(r["timestamp"], s(r["outerMessage"]), r["details"]) for r in d["exceptions"]],
            key=lambda row: row[0],
            reverse=True,
        ),
        ordered=True,
        adapted="AppExceptions/Message/StackTrace -> classic",
    ),
    CorpusQuery(
        SKILLS,
        "requests | where success == false | where timestamp > ago(1h)"
        " | summarize count() by name, resultCode | order by count_ desc",
        lambda d: counts(
            [r for r in d["requests"] if failed(r)],
            lambda r: s(r["name"]),
            lambda r: s(r["resultCode"]),
        ),
        adapted="workspace -> classic names",
    ),
    CorpusQuery(
        SKILLS,
        "requests | where timestamp > ago(1h) | where duration > 5000"
        " | project timestamp, name, duration | order by duration desc",
        lambda d: sorted(
            [
                (r["timestamp"], s(r["name"]), r["duration"])
                for r in d["requests"]
                if r["duration"] > 5000
            ],
            key=lambda row: -row[2],
        ),
        ordered=True,
        adapted="workspace -> classic names",
    ),
    CorpusQuery(
        SKILLS,
        "dependencies | where success == false | where timestamp > ago(1h)"
        " | summarize count() by name, resultCode, target",
        lambda d: counts(
            [r for r in d["dependencies"] if failed(r)],
            lambda r: s(r["name"]),
            lambda r: s(r["resultCode"]),
            lambda r: s(r["target"]),
        ),
    ),
    # --- articles and gists -----------------------------------------------------------------------
    CorpusQuery(
        BLOG,
        "union withsource=sourceTable * | where timestamp > ago(1d)"
        " | where operation_Id contains '7' | project sourceTable, timestamp, operation_Id",
        lambda d: [
            (t, r["timestamp"], s(r["operation_Id"]))
            for t in d
            for r in d[t]
            if "7" in s(r["operation_Id"])
        ],
    ),
    CorpusQuery(
        BLOG,
        "union * | where timestamp > ago(1d) | where operation_Id contains '7'"
        " | project timestamp, operation_Id, name, message",
        lambda d: [
            (r["timestamp"], s(r["operation_Id"]), s(r.get("name")), s(r.get("message")))
            for t in d
            for r in d[t]
            if "7" in s(r["operation_Id"])
        ],
    ),
    CorpusQuery(
        BLOG,
        "union withsource=sourceTable * | where timestamp > ago(1d)"
        " | where * contains 'order-003' | project sourceTable, timestamp, operation_Id",
        lambda d: [
            (t, r["timestamp"], s(r["operation_Id"]))
            for t in d
            for r in d[t]
            if any("order-003" in _text(v).lower() for v in r.values())
        ],
        adapted="the search text 'error' replaced by an order id the demo logs",
    ),
    CorpusQuery(
        BLOG,
        "dependencies | where timestamp > ago(1d) | summarize percentile(duration, 95) by type",
        lambda d: [
            (k, rank([r["duration"] for r in v], 95))
            for k, v in _groups(d["dependencies"], lambda r: s(r["type"])).items()
        ],
    ),
    CorpusQuery(
        BLOG_REQUESTS,
        "let start=floor(ago(3d), 1d); let end=floor(now(), 1d) + 1d;"
        " let interval=1h; requests | where timestamp > start"
        " | make-series counter=count() default=0 on timestamp in range(start, end, interval)"
        " | mvexpand timestamp, counter | project todatetime(timestamp), toint(counter)"
        " | where counter > 0",
        lambda d: counts(d["requests"], lambda r: bin_time(r["timestamp"], timedelta(hours=1))),
        adapted="end widened a day, empty bins dropped: the answer holds at any hour",
    ),
    CorpusQuery(
        BLOG_AUTHOR,
        "let numberOfBuckets = 24; let interval = toscalar(requests"
        " | summarize interval = (max(timestamp)-min(timestamp)) / numberOfBuckets"
        " | project floor(interval, 1ms)); requests | summarize count() by bin(timestamp, interval)"
        " | summarize sum(count_)",
        lambda d: [(len(d["requests"]),)],
        adapted="interval floored to 1ms (the demo spans seconds, not days); counts summed",
    ),
    CorpusQuery(
        GIST_FN,
        "traces | project customDimensions, message, cloud_RoleName, cloud_RoleInstance,"
        ' operation_Name, timestamp | where message contains "order"'
        " | where cloud_RoleName =~ 'AZFUNC-telemetry-demo' and operation_Name == 'QueueWorker'"
        " | where timestamp > ago(30m) | project message",
        lambda d: [
            (r["message"],)
            for r in d["traces"]
            if "order" in s(r["message"]).lower()
            and s(r["cloud_RoleName"]).lower() == "azfunc-telemetry-demo"
            and r["operation_Name"] == "QueueWorker"
        ],
        adapted="placeholders filled with the demo app's names",
    ),
    CorpusQuery(
        GIST_500,
        "let start=ago(1d); let end=now(); requests"
        " | where timestamp > start and timestamp < end"
        ' | where success == false and resultCode == "500"'
        ' | join (traces | where message contains "order") on'
        " $left.operation_Id == $right.operation_Id"
        " | project name, message",
        lambda d: [
            row
            for row in _join_failed_with_traces(d)
            if "order" in row[1].lower()
            and any(r["resultCode"] == "500" for r in d["requests"] if failed(r))
        ],
        adapted="dates relative; the right key is operation_Id (the gist joined id)",
    ),
    CorpusQuery(
        GIST_EVENTS,
        "traces | sort by timestamp desc | where customDimensions.EventId > 1"
        " | project Level = customDimensions.LogLevel, EventId = customDimensions.EventId",
        lambda d: [],
    ),
    CorpusQuery(
        GUIDE,
        "let opId = toscalar(exceptions | take 1 | project operation_Id);"
        " union isfuzzy=true (requests | where operation_Id == opId | project timestamp,"
        ' itemType="requests"), (dependencies | where operation_Id == opId | project timestamp,'
        ' itemType="dependencies"), (exceptions | where operation_Id == opId | project timestamp,'
        ' itemType="exceptions"), (traces | where operation_Id == opId | project timestamp,'
        ' itemType="traces") | order by timestamp asc | project itemType, timestamp',
        _union_ops,
        ordered=True,
        adapted="AppX -> classic tables; the id is taken from the data",
    ),
    CorpusQuery(
        GUIDE, "requests | summarize arg_max(timestamp, duration) by name", _latest_per_function
    ),
    CorpusQuery(
        GUIDE,
        "requests | where success == false | join kind=inner (traces) on operation_Id"
        " | project name, message",
        lambda d: [
            (s(r["name"]), s(t["message"]))
            for r in d["requests"]
            if failed(r)
            for t in d["traces"]
            if s(t["operation_Id"]) == s(r["operation_Id"])
        ],
    ),
    CorpusQuery(
        GUIDE,
        "requests | extend mode = tostring(customDimensions.execution_mode)"
        " | summarize count(), avg(duration) by mode",
        lambda d: [
            (k, len(v), sum(r["duration"] for r in v) / len(v))
            for k, v in _groups(
                d["requests"], lambda r: r["customDimensions"].get("execution_mode") or ""
            ).items()
        ],
    ),
    CorpusQuery(
        GUIDE,
        "requests | summarize failures = countif(success == false), total = count()"
        " by name | extend rate = round(100.0 * failures / total, 2)",
        lambda d: [
            (
                k,
                sum(failed(r) for r in v),
                len(v),
                round(100.0 * sum(failed(r) for r in v) / len(v), 2),
            )
            for k, v in _groups(d["requests"], lambda r: s(r["name"])).items()
        ],
    ),
    CorpusQuery(
        GUIDE,
        "customMetrics | summarize avg(value), max(value) by name",
        lambda d: [
            (k, sum(r["value"] for r in v) / len(v), max(r["value"] for r in v))
            for k, v in _groups(d["customMetrics"], lambda r: s(r["name"])).items()
        ],
    ),
    CorpusQuery(
        GUIDE,
        "traces | summarize dcount(operation_Id) by operation_Name",
        lambda d: [
            (k, len({s(r["operation_Id"]) for r in v}))
            for k, v in _groups(d["traces"], lambda r: s(r["operation_Name"])).items()
        ],
    ),
    CorpusQuery(
        GUIDE,
        'requests | where name in ("HttpSync", "HttpAsync") | summarize count() by name',
        lambda d: counts(
            [r for r in d["requests"] if r["name"] in ("HttpSync", "HttpAsync")],
            lambda r: r["name"],
        ),
    ),
    CorpusQuery(
        GUIDE,
        'dependencies | where type == "SQL" | summarize count() by tostring(data)',
        lambda d: counts(
            [r for r in d["dependencies"] if r["type"] == "SQL"], lambda r: s(r["data"])
        ),
    ),
    CorpusQuery(
        GUIDE,
        'traces | where message has_any ("order", "report") | count',
        lambda d: [
            (
                sum(
                    1
                    for r in d["traces"]
                    if any(
                        w in ("order", "report")
                        for w in s(r["message"]).lower().replace("-", " ").split()
                    )
                ),
            )
        ],
    ),
    CorpusQuery(
        GUIDE,
        "requests | top 5 by duration desc | project name, duration",
        lambda d: [
            (s(r["name"]), r["duration"])
            for r in sorted(d["requests"], key=lambda r: -r["duration"])[:5]
        ],
        ordered=True,
    ),
    CorpusQuery(
        GUIDE,
        "requests | summarize make_set(name)",
        lambda d: [(list(dict.fromkeys(r["name"] for r in d["requests"])),)],
    ),
    # --- Kusto reference examples (self-contained; the documented output) ----------------------
    CorpusQuery(
        KUSTO + "print-operator",
        'print 0 + 1 + 2 + 3 + 4 + 5, x = "Wow!"',
        lambda d: [(15, "Wow!")],
    ),
    CorpusQuery(
        KUSTO + "range-operator",
        "range Steps from 1 to 8 step 3",
        lambda d: [(1,), (4,), (7,)],
        ordered=True,
    ),
    CorpusQuery(
        KUSTO + "extract-function",
        'print extract("x=([0-9.]+)", 1, "hello x=45.6|wo")',
        lambda d: [("45.6",)],
    ),
    CorpusQuery(
        KUSTO + "split-function",
        'print s1 = split("aa_bb", "_"), s2 = split("aaa_bbb_ccc", "_", 1)',
        lambda d: [(["aa", "bb"], ["bbb"])],
    ),
    CorpusQuery(
        KUSTO + "strcat-function",
        'print str = strcat("hello", " ", "world")',
        lambda d: [("hello world",)],
    ),
    CorpusQuery(
        KUSTO + "substring-function", 'print substring("123456", 1, 3)', lambda d: [("234",)]
    ),
    CorpusQuery(
        KUSTO + "indexof-function", 'print idx1 = indexof("abcdefg","cde")', lambda d: [(2,)]
    ),
    CorpusQuery(
        KUSTO + "trim-function",
        'print trimmed = trim("--", "--https://bing.com--")',
        lambda d: [("https://bing.com",)],
    ),
    CorpusQuery(
        KUSTO + "countof-function",
        'print countof("aaa", "a"), countof("aaaa", "aa"), countof("aaaa", "aa", "regex")',
        lambda d: [(3, 3, 2)],
    ),
    CorpusQuery(
        KUSTO + "datetime-diff-function",
        "print year = datetime_diff('year',datetime(2017-01-01),datetime(2000-12-31)),"
        " quarter = datetime_diff('quarter',datetime(2017-07-01),datetime(2017-03-30)),"
        " month = datetime_diff('month',datetime(2017-01-01),datetime(2015-12-30)),"
        " week = datetime_diff('week',datetime(2017-10-29 00:00),datetime(2017-09-30 23:59)),"
        " day = datetime_diff('day',datetime(2017-10-29 00:00),datetime(2017-09-30 23:59)),"
        " hour = datetime_diff('hour',datetime(2017-10-31 01:00),datetime(2017-10-30 23:59))",
        lambda d: [(17, 2, 13, 5, 29, 2)],
    ),
    CorpusQuery(
        KUSTO + "datetime-add-function",
        "print year = datetime_add('year',1,datetime(2017-1-1)),"
        " month = datetime_add('month',1,datetime(2017-1-1)), day ="
        " datetime_add('day',1,datetime(2017-1-1))",
        lambda d: [
            (
                datetime(2018, 1, 1, tzinfo=UTC),
                datetime(2017, 2, 1, tzinfo=UTC),
                datetime(2017, 1, 2, tzinfo=UTC),
            )
        ],
    ),
    CorpusQuery(
        KUSTO + "format-datetime-function",
        "print v1=format_datetime(datetime(2017-01-29 09:00:05),'yy-MM-dd [HH:mm:ss]'),"
        " v2=format_datetime(datetime(2017-01-29 09:00:05), 'yyyy-M-dd [H:mm:ss]'),"
        " v3=format_datetime(datetime(2017-01-29 09:00:05), 'yy-MM-dd [hh:mm:ss tt]')",
        lambda d: [("17-01-29 [09:00:05]", "2017-1-29 [9:00:05]", "17-01-29 [09:00:05 AM]")],
    ),
    CorpusQuery(
        KUSTO + "dayofweek-function",
        "print dayofweek(datetime(1947-11-30 10:00:05))",
        lambda d: [(timedelta(0),)],
    ),
    CorpusQuery(
        KUSTO + "startofday-function",
        "range offset from -1 to 1 step 1"
        " | project dayStart = startofday(datetime(2017-01-01 10:10:17), offset)",
        lambda d: [
            (datetime(2016, 12, 31, tzinfo=UTC),),
            (datetime(2017, 1, 1, tzinfo=UTC),),
            (datetime(2017, 1, 2, tzinfo=UTC),),
        ],
        ordered=True,
    ),
    CorpusQuery(
        KUSTO + "bag-keys-function",
        "datatable(input: dynamic) [dynamic({'a':'b', 'c':123})]"
        " | extend result = bag_keys(input) | project result",
        lambda d: [(["a", "c"],)],
    ),
    CorpusQuery(
        KUSTO + "has-any-operator",
        "print 'this is an example' has_any ('example', 'test')",
        lambda d: [(True,)],
    ),
    CorpusQuery(
        KUSTO + "mv-expand-operator",
        "datatable (a: int, b: dynamic)"
        " [1, dynamic([10, 20]), 2, dynamic(['a', 'b'])] | mv-expand b",
        lambda d: [(1, 10), (1, 20), (2, "a"), (2, "b")],
        ordered=True,
    ),
    CorpusQuery(
        KUSTO + "join-operator",
        "let X = datatable(Key:string, Value1:long) ['a',1,'b',2,'b',3,'c',4];"
        " let Y = datatable(Key:string, Value2:long)"
        " ['b',10,'c',20,'c',30,'d',40]; X | join Y on Key",
        lambda d: [("b", 2, "b", 10), ("c", 4, "c", 20), ("c", 4, "c", 30)],
    ),
    CorpusQuery(
        KUSTO + "join-operator",
        "let X = datatable(Key:string, Value1:long) ['a',1,'b',2,'b',3,'c',4];"
        " let Y = datatable(Key:string, Value2:long) ['b',10,'c',20,'c',30,'d',40];"
        " X | join kind=leftanti Y on Key",
        lambda d: [("a", 1)],
    ),
    CorpusQuery(
        KUSTO + "lookup-operator",
        "let FactTable=datatable(Row:string,Personal:string,Family:string)"
        ' ["1", "Rowan", "Murphy", "2", "Ellis", "Turner", "3", "Ellis", "Turner",'
        ' "4", "Maya", "Robinson", "5", "Quinn", "Campbell"];'
        " let DimTable=datatable(Personal:string,Family:string,Alias:string)"
        ' ["Rowan", "Murphy", "rowanm", "Ellis", "Turner", "ellist", "Maya", "Robinson",'
        ' "mayar", "Quinn", "Campbell", "quinnc"];'
        " FactTable | lookup kind=leftouter DimTable on Personal, Family",
        lambda d: [
            ("1", "Rowan", "Murphy", "rowanm"),
            ("2", "Ellis", "Turner", "ellist"),
            ("3", "Ellis", "Turner", "ellist"),
            ("4", "Maya", "Robinson", "mayar"),
            ("5", "Quinn", "Campbell", "quinnc"),
        ],
    ),
    CorpusQuery(
        KUSTO + "bag-unpack-plugin",
        'datatable(d:dynamic) [dynamic({"Name": "John", "Age":20}),'
        ' dynamic({"Name": "Dave", "Age":40}), dynamic({"Name": "Jasmine", "Age":30})]'
        " | evaluate bag_unpack(d)",
        lambda d: [(20, "John"), (40, "Dave"), (30, "Jasmine")],
    ),
    CorpusQuery(
        KUSTO + "row-number-function",
        "range a from 1 to 5 step 1 | sort by a desc | extend rn=row_number()",
        lambda d: [(5, 1), (4, 2), (3, 3), (2, 4), (1, 5)],
        ordered=True,
    ),
    CorpusQuery(
        KUSTO + "parse-operator",
        "let Traces = datatable(EventText:string)"
        ' ["Event: NotifySliceRelease (resourceName=PipelineScheduler,'
        ' totalSlices=27, sliceNumber=23)"];'
        ' Traces | parse EventText with * "resourceName=" resourceName ", totalSlices="'
        ' totalSlices:long * "sliceNumber=" sliceNumber:long * | project'
        " resourceName, totalSlices, sliceNumber",
        lambda d: [("PipelineScheduler", 27, 23)],
    ),
    CorpusQuery(
        KUSTO + "toscalar-function",
        "let Range10 = range MyValue from 1 to 10 step 1;"
        " let Top3 = toscalar(Range10 | top 3 by MyValue | summarize make_list(MyValue));"
        " print Top3",
        lambda d: [([10, 9, 8],)],
    ),
]
