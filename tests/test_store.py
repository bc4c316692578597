"""Tests for TelemetryStore: envelope-to-column mapping, concurrency and persistence."""

from __future__ import annotations

import copy
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from helpers import OTEL_TAGS

from azfunc_telemetry.local.store import TABLES, TelemetryStore, parse_duration_ms

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
IKEY = "00000000-0000-0000-0000-000000000001"
OC_TAGS = {
    "ai.cloud.role": "exp_oc_capture.py",
    "ai.cloud.roleInstance": "vm",
    "ai.device.id": "vm",
    "ai.device.type": "Other",
    "ai.internal.sdkVersion": "py3.11.7:oc0.11.4:ext1.1.15",
}

# Envelopes as captured in protocol.md Appendix A (trimmed to what the mapping reads).
OC_MESSAGE = {
    "iKey": IKEY,
    "tags": {
        **OC_TAGS,
        "ai.operation.id": "0af7651916cd43dd8448eb211c80319c",
        "ai.operation.parentId": "|0af7651916cd43dd8448eb211c80319c.b7ad6b7169203331.",
    },
    "time": "2026-11-24T03:45:33.536586Z",
    "name": "Microsoft.ApplicationInsights.Message",
    "data": {
        "baseData": {
            "message": "hello world",
            "severityLevel": 1,
            "properties": {
                "process": "MainProcess",
                "lineNumber": 22,
                "invocation_id": "abc-123",
                "count": 3,
                "ratio": 0.5,
                "cold": True,
                "nothing": None,
            },
            "ver": 2,
        },
        "baseType": "MessageData",
    },
}
OC_EXCEPTION = {
    "iKey": IKEY,
    "tags": {**OC_TAGS, "ai.operation.id": "00000000000000000000000000000000"},
    "time": "2026-11-24T03:45:33.536949Z",
    "name": "Microsoft.ApplicationInsights.Exception",
    "data": {
        "baseData": {
            "exceptions": [
                {
                    "id": 1,
                    "outerId": 0,
                    "typeName": "ZeroDivisionError",
                    "message": "division failed\nTraceback (most recent call last):\n...",
                    "hasFullStack": True,
                    "parsedStack": [
                        {"level": 0, "method": "<module>", "fileName": "app.py", "line": 27},
                        {"level": 1, "method": "divide", "fileName": "calc.py", "line": 4},
                    ],
                }
            ],
            "severityLevel": 3,
            "properties": {"k": "v", "lineNumber": 29},
            "ver": 2,
        },
        "baseType": "ExceptionData",
    },
}
OTEL_EXCEPTION = {
    "name": "Microsoft.ApplicationInsights.Exception",
    "iKey": IKEY,
    "tags": {**OTEL_TAGS, "ai.operation.id": "2e927bbd3a0bd52b4f4ef6d0a9f99fa0"},
    "time": "2026-11-24T03:50:13.415023Z",
    "data": {
        "baseData": {
            "ver": 2,
            "severityLevel": 3,
            "properties": {"code.line.number": "42"},
            "measurements": {},
            "exceptions": [
                {
                    "typeName": "ZeroDivisionError",
                    "message": "division failed",
                    "hasFullStack": True,
                    "stack": 'Traceback (most recent call last):\n  File "exp.py", line 40, '
                    'in <module>\n    handle()\n  File "exp.py", line 12, in handle\n'
                    "    1 / 0\nZeroDivisionError: division by zero\n",
                }
            ],
        },
        "baseType": "ExceptionData",
    },
}
OC_EVENT = {
    "iKey": IKEY,
    "tags": OC_TAGS,
    "time": "2026-11-24T03:45:34.041970Z",
    "name": "Microsoft.ApplicationInsights.Event",
    "data": {
        "baseData": {
            "name": "MyCustomEvent",
            "properties": {"a": "b"},
            "measurements": {"m": 1.5, "n": 2},
            "ver": 2,
        },
        "baseType": "EventData",
    },
}
OTEL_REQUEST = {
    "name": "Microsoft.ApplicationInsights.Request",
    "iKey": IKEY,
    "tags": {
        **OTEL_TAGS,
        "ai.operation.id": "2e927bbd3a0bd52b4f4ef6d0a9f99fa0",
        "ai.operation.name": "GET /api/HttpTrigger1",
    },
    "time": "2026-11-24T03:50:13.414579Z",
    "data": {
        "baseData": {
            "ver": 2,
            "name": "GET /api/HttpTrigger1",
            "id": "ae211013cd85d80c",
            "duration": "0.00:00:00.010",
            "responseCode": "200",
            "success": True,
            "properties": {"invocation_id": "abc-123"},
            "measurements": {},
            "url": "http://localhost:7071/api/HttpTrigger1?name=x",
        },
        "baseType": "RequestData",
    },
}
OC_DEPENDENCY = {
    "iKey": IKEY,
    "tags": {
        **OC_TAGS,
        "ai.operation.id": "f30e36c5b78dfc1a9b5a476400ced031",
        "ai.operation.parentId": "3cc7accb290ec33d",
    },
    "time": "2026-11-24T03:45:34.045038Z",
    "name": "Microsoft.ApplicationInsights.RemoteDependency",
    "data": {
        "baseData": {
            "name": "POST /v1/items",
            "id": "8f9ebb2fcfcd47ae",
            "resultCode": "503",
            "duration": "0.00:00:01.250",
            "success": False,
            "properties": {"component": "HTTP"},
            "ver": 2,
            "type": "HTTP",
            "data": "https://backend.example.com/v1/items",
            "target": "backend.example.com",
        },
        "baseType": "RemoteDependencyData",
    },
}
OC_METRIC = {
    "iKey": IKEY,
    "tags": OC_TAGS,
    "time": "2026-11-24T03:45:39.057909",
    "name": "Microsoft.ApplicationInsights.Metric",
    "data": {
        "baseData": {
            "metrics": [
                {"ns": "invocations_view", "name": "invocations_view", "value": 1},
                {"ns": "cpu", "name": "\\Processor(_Total)\\% Processor Time", "value": 0.35},
            ],
            "properties": {"function_name": "HttpTrigger1"},
            "ver": 2,
        },
        "baseType": "MetricData",
    },
}
OTEL_HISTOGRAM = {
    "name": "Microsoft.ApplicationInsights.Metric",
    "iKey": IKEY,
    "tags": OTEL_TAGS,
    "time": "2026-11-24T03:50:13.428869Z",
    "data": {
        "baseData": {
            "ver": 2,
            "properties": {},
            "metrics": [
                {"name": "duration_ms", "value": 20.0, "count": 2, "min": 7.5, "max": 12.5}
            ],
        },
        "baseType": "MetricData",
    },
}
STATSBEAT = {
    "iKey": "11111111-1111-1111-1111-111111111111",
    "tags": OC_TAGS,
    "time": "2026-11-24T03:55:50.395905",
    "name": "Statsbeat",
    "data": {
        "baseData": {
            "metrics": [{"ns": "Attach", "name": "Attach", "value": 0}],
            "properties": {"rp": "functions", "attach": "sdk"},
            "ver": 2,
        },
        "baseType": "MetricData",
    },
}
PAGE_VIEW = {
    "iKey": IKEY,
    "time": "2026-11-24T03:55:50Z",
    "name": "Microsoft.ApplicationInsights.PageView",
    "data": {"baseType": "PageViewData", "baseData": {"name": "home"}},
}


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[TelemetryStore]:
    with TelemetryStore(tmp_path / "telemetry.db") as opened:
        yield opened


def only_row(store: TelemetryStore, table: str) -> dict[str, Any]:
    [row] = store.rows(table)
    return row


def assert_span_columns(
    row: dict[str, Any], item_type: str, result_code: str, success: bool, duration_ms: float
) -> None:
    """The columns a request and a dependency share: outcome and duration in milliseconds."""
    assert row["itemType"] == item_type
    assert row["resultCode"] == result_code
    assert row["success"] is success
    assert row["duration"] == pytest.approx(duration_ms)


def test_trace_columns(store: TelemetryStore) -> None:
    """A message maps to traces with tags as columns and dimensions stringified."""
    assert store.insert([OC_MESSAGE]) == 1
    row = only_row(store, "traces")
    assert row["timestamp"] == datetime(2026, 11, 24, 3, 45, 33, 536586, tzinfo=timezone.utc)
    assert row["itemType"] == "trace"
    assert row["itemCount"] == 1
    assert row["iKey"] == IKEY
    assert row["message"] == "hello world"
    assert row["severityLevel"] == 1
    assert row["operation_Id"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["operation_ParentId"] == "|0af7651916cd43dd8448eb211c80319c.b7ad6b7169203331."
    assert row["operation_Name"] is None
    assert row["cloud_RoleName"] == "exp_oc_capture.py"
    assert row["cloud_RoleInstance"] == "vm"
    assert row["sdkVersion"] == "py3.11.7:oc0.11.4:ext1.1.15"
    assert row["customDimensions"] == {
        "process": "MainProcess",
        "lineNumber": "22",
        "invocation_id": "abc-123",
        "count": "3",
        "ratio": "0.5",
        "cold": "True",
    }
    assert row["customMeasurements"] == {}
    assert len(row["itemId"]) == 36


def test_timestamp_is_stored_as_utc_text_with_z(store: TelemetryStore) -> None:
    """The raw column holds ISO-8601 UTC text ending in Z, even for a naive envelope time."""
    store.insert([OC_METRIC])
    connection = sqlite3.connect(store.path)
    try:
        stored = connection.execute('SELECT timestamp FROM "customMetrics"').fetchall()
    finally:
        connection.close()
    assert stored == [("2026-11-24T03:45:39.057909Z",), ("2026-11-24T03:45:39.057909Z",)]


def test_request_columns(store: TelemetryStore) -> None:
    """A server span maps to requests with parsed duration, bool success, resultCode."""
    store.insert([OTEL_REQUEST])
    row = only_row(store, "requests")
    assert_span_columns(row, "request", "200", True, 10.0)
    assert row["id"] == "ae211013cd85d80c"
    assert row["name"] == "GET /api/HttpTrigger1"
    assert row["url"] == "http://localhost:7071/api/HttpTrigger1?name=x"
    assert row["operation_Name"] == "GET /api/HttpTrigger1"
    assert row["source"] is None
    assert row["customDimensions"] == {"invocation_id": "abc-123"}


def test_dependency_columns(store: TelemetryStore) -> None:
    """A client span maps to dependencies with target, type, data and failure."""
    store.insert([OC_DEPENDENCY])
    row = only_row(store, "dependencies")
    assert_span_columns(row, "dependency", "503", False, 1250.0)
    assert (row["id"], row["name"], row["type"]) == ("8f9ebb2fcfcd47ae", "POST /v1/items", "HTTP")
    assert row["data"] == "https://backend.example.com/v1/items"
    assert row["target"] == "backend.example.com"
    assert row["operation_ParentId"] == "3cc7accb290ec33d"


def test_opencensus_exception_columns(store: TelemetryStore) -> None:
    """parsedStack gives method/assembly of the raising frame and a derived problemId."""
    store.insert([OC_EXCEPTION])
    row = only_row(store, "exceptions")
    assert row["itemType"] == "exception"
    assert row["type"] == row["outerType"] == row["innermostType"] == "ZeroDivisionError"
    assert row["message"].startswith("division failed")
    assert row["outerMessage"] == row["innermostMessage"] == row["message"]
    assert (row["method"], row["assembly"]) == ("divide", "calc.py")
    assert row["problemId"] == "ZeroDivisionError at divide"
    assert row["severityLevel"] == 3
    assert row["details"] == OC_EXCEPTION["data"]["baseData"]["exceptions"]  # type: ignore[index]
    assert row["customDimensions"] == {"k": "v", "lineNumber": "29"}


def test_otel_exception_method_comes_from_stack_text(store: TelemetryStore) -> None:
    """Without parsedStack, the last frame of the traceback text names the method."""
    store.insert([OTEL_EXCEPTION])
    row = only_row(store, "exceptions")
    assert (row["method"], row["assembly"]) == ("handle", "exp.py")
    assert row["problemId"] == "ZeroDivisionError at handle"
    assert row["message"] == "division failed"


def test_explicit_problem_id_and_chained_exceptions(store: TelemetryStore) -> None:
    """An envelope's problemId wins; innermost columns come from the last exception."""
    envelope = copy.deepcopy(OTEL_EXCEPTION)
    base = envelope["data"]["baseData"]  # type: ignore[index]
    base["problemId"] = "custom-problem"
    base["exceptions"].append({"typeName": "KeyError", "message": "'x'", "hasFullStack": False})
    store.insert([envelope])
    row = only_row(store, "exceptions")
    assert row["problemId"] == "custom-problem"
    assert (row["outerType"], row["innermostType"]) == ("ZeroDivisionError", "KeyError")
    assert row["innermostMessage"] == "'x'"
    assert len(row["details"]) == 2


def test_custom_event_columns(store: TelemetryStore) -> None:
    """An event maps to customEvents with its name and numeric measurements."""
    store.insert([OC_EVENT])
    row = only_row(store, "customEvents")
    assert row["itemType"] == "customEvent"
    assert row["name"] == "MyCustomEvent"
    assert row["customDimensions"] == {"a": "b"}
    assert row["customMeasurements"] == {"m": 1.5, "n": 2.0}


def test_metric_rows_one_per_entry(store: TelemetryStore) -> None:
    """Each entry of baseData.metrics becomes a customMetrics row with count/min/max defaults."""
    assert store.insert([OC_METRIC, OTEL_HISTOGRAM]) == 3
    rows = {row["name"]: row for row in store.rows("customMetrics")}
    view = rows["invocations_view"]
    assert (view["value"], view["valueCount"], view["valueSum"]) == (1.0, 1, 1.0)
    assert (view["valueMin"], view["valueMax"], view["valueStdDev"]) == (1.0, 1.0, 0.0)
    assert view["customDimensions"] == {"function_name": "HttpTrigger1"}
    assert view["timestamp"] == datetime(2026, 11, 24, 3, 45, 39, 57909, tzinfo=timezone.utc)
    histogram = rows["duration_ms"]
    assert (histogram["value"], histogram["valueSum"], histogram["valueCount"]) == (20.0, 20.0, 2)
    assert (histogram["valueMin"], histogram["valueMax"]) == (7.5, 12.5)
    assert rows["\\Processor(_Total)\\% Processor Time"]["value"] == pytest.approx(0.35)


def test_statsbeat_is_a_metric_and_unknown_types_are_skipped(store: TelemetryStore) -> None:
    """Statsbeat maps by baseType to customMetrics; PageViewData is counted and skipped."""
    assert store.insert([STATSBEAT, PAGE_VIEW, {"time": "x"}]) == 1
    assert only_row(store, "customMetrics")["name"] == "Attach"
    assert store.skipped == 2
    assert sum(store.count(table) for table in TABLES) == 1


def test_sample_rate_sets_item_count(store: TelemetryStore) -> None:
    """itemCount is 100/sampleRate, 1 without sampling."""
    sampled = {**copy.deepcopy(OC_MESSAGE), "sampleRate": 25.0}
    store.insert([sampled, OC_MESSAGE])
    assert [row["itemCount"] for row in store.rows("traces")] == [4, 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.00:00:00.010", 10.0),
        ("00:00:01.500000", 1500.0),
        ("1.02:03:04.5", ((26 * 60 + 3) * 60 + 4.5) * 1000),
        ("00:00:00", 0.0),
        (12.5, 12.5),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_duration_ms(text: object, expected: float | None) -> None:
    """Both d.hh:mm:ss.fff and hh:mm:ss.ffffff parse to milliseconds; junk is None."""
    result = parse_duration_ms(text)
    assert result == (None if expected is None else pytest.approx(expected))


def test_tables_and_columns(store: TelemetryStore) -> None:
    """The classic table names exist with their exact column names."""
    common = (
        "timestamp",
        "itemType",
        "itemId",
        "itemCount",
        "iKey",
        "operation_Id",
        "operation_ParentId",
        "operation_Name",
        "cloud_RoleName",
        "cloud_RoleInstance",
        "sdkVersion",
        "customDimensions",
        "customMeasurements",
    )
    assert set(TABLES) == {
        "traces",
        "requests",
        "dependencies",
        "exceptions",
        "customMetrics",
        "customEvents",
    }
    context = (
        "user_Id",
        "user_AuthenticatedId",
        "user_AccountId",
        "application_Version",
        "client_Type",
        "client_Model",
        "client_OS",
        "client_IP",
        "client_City",
        "client_StateOrProvince",
        "client_CountryOrRegion",
        "client_Browser",
        "session_Id",
        "operation_SyntheticSource",
        "appId",
        "appName",
    )
    assert store.columns("traces") == (*common, "message", "severityLevel", *context)
    assert store.columns("requests")[len(common) :] == (
        "id",
        "name",
        "url",
        "source",
        "resultCode",
        "success",
        "duration",
        "performanceBucket",
        *context,
    )
    assert store.columns("customMetrics")[len(common) :] == (
        "name",
        "value",
        "valueCount",
        "valueSum",
        "valueMin",
        "valueMax",
        "valueStdDev",
        *context,
    )
    assert store.columns("customEvents") == (*common, "name", *context)
    with pytest.raises(ValueError, match="unknown table 'pageViews'"):
        store.rows("pageViews")
    with pytest.raises(KeyError):
        store.columns("pageViews")


def test_long_values_are_cut_to_service_limits(store: TelemetryStore) -> None:
    """Messages stop at 32768 characters and property values at 8192, as in the service."""
    envelope = copy.deepcopy(OC_MESSAGE)
    base = envelope["data"]["baseData"]  # type: ignore[index]
    base["message"] = "m" * 40000
    base["properties"] = {"big": "v" * 9000}
    store.insert([envelope])
    row = only_row(store, "traces")
    assert len(row["message"]) == 32768
    assert len(row["customDimensions"]["big"]) == 8192


def test_data_survives_reopen(tmp_path: pathlib.Path) -> None:
    """Closing and reopening keeps rows; opening twice does not recreate the schema."""
    path = tmp_path / "persist.db"
    with TelemetryStore(path) as first:
        first.insert([OC_MESSAGE, OTEL_REQUEST])
    with TelemetryStore(path) as second, TelemetryStore(path) as third:
        assert second.count("traces") == 1
        assert third.rows("requests")[0]["name"] == "GET /api/HttpTrigger1"
        second.insert([OC_EVENT])
        assert third.count("customEvents") == 1


def test_closed_store_refuses_work(tmp_path: pathlib.Path) -> None:
    """After close, inserts fail clearly; close is idempotent."""
    store = TelemetryStore(tmp_path / "closed.db")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.insert([OC_MESSAGE])


def numbered(writer: str, count: int) -> list[dict[str, Any]]:
    envelopes = []
    for number in range(count):
        envelope = copy.deepcopy(OC_MESSAGE)
        envelope["data"]["baseData"]["message"] = f"{writer}-{number}"  # type: ignore[index]
        envelopes.append(envelope)
    return envelopes


def test_concurrent_threads_lose_nothing(store: TelemetryStore) -> None:
    """8 threads inserting 500 items each, one transaction per item, keep all 4000 rows."""
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            items = numbered(f"t{writer}", 500)
            barrier.wait(10)
            for item in items:
                store.insert([item])
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    messages = [row["message"] for row in store.rows("traces")]
    assert len(messages) == 4000
    assert set(messages) == {f"t{w}-{n}" for w in range(8) for n in range(500)}


WRITER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from azfunc_telemetry.local.store import TelemetryStore
    path, writer, template = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sys.stdin.readline()  # start together with the other writers
    with TelemetryStore(path) as store:
        for number in range(500):
            template["data"]["baseData"]["message"] = f"{writer}-{number}"
            store.insert([template])
    """
)


def test_concurrent_processes_lose_nothing(tmp_path: pathlib.Path) -> None:
    """Two processes and this one writing the same file at once keep every row."""
    path = tmp_path / "shared.db"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with TelemetryStore(path) as store:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER_SCRIPT, str(path), f"p{n}", json.dumps(OC_MESSAGE)],
                stdin=subprocess.PIPE,
                cwd=REPO_ROOT,
                env=env,
            )
            for n in range(2)
        ]
        try:
            for writer in writers:
                assert writer.stdin is not None
                writer.stdin.write(b"go\n")
                writer.stdin.close()
            for item in numbered("main", 500):
                store.insert([item])
            codes = [writer.wait(120) for writer in writers]
        finally:
            for writer in writers:
                if writer.poll() is None:
                    writer.kill()
                    writer.wait()
        assert codes == [0, 0]
        messages = [row["message"] for row in store.rows("traces")]
    assert len(messages) == 1500
    expected = {f"{w}-{n}" for w in ("p0", "p1", "main") for n in range(500)}
    assert set(messages) == expected


def test_context_columns_are_computed_or_copied_from_tags(store: TelemetryStore) -> None:
    """client_Type and client_IP are computed; user_Id and session_Id come from tags."""
    envelope = copy.deepcopy(OC_MESSAGE)
    envelope["tags"].update({"ai.user.id": "u-1", "ai.session.id": "s-1"})  # type: ignore[attr-defined]
    store.insert([envelope])
    row = only_row(store, "traces")
    assert (row["client_Type"], row["client_IP"]) == ("PC", "0.0.0.0")
    assert (row["user_Id"], row["session_Id"]) == ("u-1", "s-1")
    assert row["appName"] is None


@pytest.mark.parametrize(
    ("duration", "bucket"),
    [(0.0, "<250ms"), (249.9, "<250ms"), (250.0, "250ms-500ms"), (999.0, "500ms-1sec"),
     (2500.0, "1sec-3sec"), (45000.0, "30sec-1min"), (299999.0, "2min-5min"),
     (300000.0, ">=5min"), (None, None)],
)  # fmt: skip
def test_performance_bucket_labels(duration: float | None, bucket: str | None) -> None:
    """Durations fall in the service's performance buckets, lower bound inclusive."""
    from azfunc_telemetry.local.rows import performance_bucket

    assert performance_bucket(duration) == bucket


def test_older_store_gains_new_columns_on_open(tmp_path: pathlib.Path) -> None:
    """A database created without the context columns gets them added, keeping its rows."""
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.execute('CREATE TABLE "traces" (timestamp TEXT, message TEXT)')
    connection.execute("INSERT INTO traces VALUES ('2026-01-01T00:00:00.000000Z', 'kept')")
    connection.commit()
    connection.close()
    with TelemetryStore(path) as reopened:
        rows = reopened.rows("traces")
    assert [row["message"] for row in rows] == ["kept"]
    assert rows[0]["client_Type"] is None
