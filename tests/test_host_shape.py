"""Application Insights as the Functions host fills it, envelope by envelope.

Concurrent sync and async invocations run through the worker-like ``LocalDispatcher`` (a real
thread pool, a real event loop, real ``azure.functions`` types), which also writes the host's
``Host.Results`` request rows; the library exports to the loopback emulator. The tests check
what reaches the endpoint: the invocation item's kind and parent, the host dimensions on every
log, and which records are not exported at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from helpers import Envelope, base, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator, LocalDispatcher

log = logging.getLogger("tests.host_shape")
HOST_LEVELS = {
    logging.DEBUG: "Debug",
    logging.INFO: "Information",
    logging.WARNING: "Warning",
    logging.ERROR: "Error",
    logging.CRITICAL: "Critical",
}
POOL_DIMENSIONS = {
    "cold_start",
    "execution_mode",
    "thread_name",
    "inflight_sync_at_start",
    "inflight_async_at_start",
    "pool_size",
    "pool_size_source",
    "pool_saturated",
}
WORKER_LOGGERS = (
    "azure_functions_worker",
    "azure_functions_worker.dispatcher",
    "azure_functions_worker_errors",
    "azure_functions_runtime",
    "azure_functions_runtime_v1.handle_event",
    "proxy_worker",
    "azure.functions",
)


@azfunc_telemetry.instrument
def sync_order(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Logs at every level, through the worker's loggers too, and fails on request."""
    for level in HOST_LEVELS:
        log.log(level, "sync %s", logging.getLevelName(level))
    for name in WORKER_LOGGERS:
        logging.getLogger(name).info("Received FunctionInvocationRequest (sync)")
    if req.params.get("fail"):
        raise RuntimeError("sync order failed")
    return func.HttpResponse("ok", status_code=201)


@azfunc_telemetry.instrument
async def async_order(msg: func.QueueMessage) -> None:
    """Logs across tasks, through the worker's loggers too, and fails on request."""
    log.info("async start")
    for name in WORKER_LOGGERS:
        logging.getLogger(name).info("Received FunctionInvocationRequest (async)")
    await asyncio.gather(*(asyncio.sleep(0.001) for _ in range(3)))
    try:
        if msg.get_body() == b"fail":
            raise ValueError("async order failed")
    except ValueError:
        log.exception("async order could not be read")
        raise
    log.warning("async end")


def http(fail: bool = False) -> func.HttpRequest:
    params = {"fail": "1"} if fail else {}
    return func.HttpRequest("GET", "http://localhost/api/sync_order", params=params, body=b"")


def run_burst(dispatcher: LocalDispatcher, count: int = 8) -> list[tuple[FakeContext, bool, bool]]:
    """``count`` sync and ``count`` async invocations at once; every fourth of each fails.

    Returns each invocation's context, whether it was async and whether it failed.
    """
    started = []
    for index in range(count):
        fails = index % 4 == 3
        sync_context = FakeContext("sync_order")
        started.append(
            (
                sync_context,
                False,
                fails,
                dispatcher.invoke(sync_order, sync_context, req=http(fails)),
            )
        )
        async_context = FakeContext("async_order")
        body = b"fail" if fails else b"{}"
        message = func.QueueMessage(id=f"m{index}", body=body)
        started.append(
            (async_context, True, fails, dispatcher.invoke(async_order, async_context, msg=message))
        )
    for _context, _is_async, fails, future in started:
        error = future.exception(timeout=30)
        assert (error is not None) is fails
    assert dispatcher.flush(10)
    return [(context, is_async, fails) for context, is_async, fails, _ in started]


def host_span(context: FakeContext) -> tuple[str, str]:
    """The operation id and host span id in the context's traceparent."""
    _version, trace_id, span_id, _flags = context.trace_context.trace_parent.split("-")
    return trace_id, span_id


def delivered(emulator: IngestionEmulator, invocations: int) -> list[Envelope]:
    """Everything sent once ``invocations`` host rows and invocation items have arrived."""
    assert azfunc_telemetry.flush(10)

    def complete(envelopes: list[Envelope]) -> bool:
        hosts = [e for e in of_type(envelopes, "RequestData") if is_host_row(e)]
        return len(hosts) >= invocations and len(invocation_items(envelopes)) >= invocations

    return emulator.wait_for(complete, timeout=15)


def is_host_row(envelope: Envelope) -> bool:
    return props(envelope).get("Category") == "Host.Results"


def invocation_items(envelopes: list[Envelope]) -> list[Envelope]:
    """The library's per-invocation items, of either kind."""
    return [
        e
        for e in envelopes
        if e["data"]["baseType"] in ("RequestData", "RemoteDependencyData")
        and "execution_mode" in props(e)
    ]


@pytest.fixture
def telemetry(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> IngestionEmulator:
    """Telemetry to the emulator, in an app folder whose host.json keeps the host's requests."""
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    azfunc_telemetry.setup(connection_string=emulator.connection_string, export_interval_s=0.05)
    return emulator


def test_invocations_are_inproc_dependencies_under_the_hosts_requests(
    telemetry: IngestionEmulator,
) -> None:
    """Where the host writes requests, each invocation is one InProc dependency parented to the
    host's span, with worker-side timing, outcome and pool dimensions, and no second request."""
    with LocalDispatcher(max_workers=4) as dispatcher:
        ran = run_burst(dispatcher)
    envelopes = delivered(telemetry, len(ran))
    requests = of_type(envelopes, "RequestData")
    assert all(is_host_row(e) for e in requests)  # the library wrote no request
    hosts = {props(e)["InvocationId"]: e for e in requests}
    assert len(requests) == len(hosts) == len(ran)
    items = {props(e)["InvocationId"]: e for e in invocation_items(envelopes)}
    assert len(items) == len(invocation_items(envelopes)) == len(ran)
    for context, is_async, fails in ran:
        item, host = items[context.invocation_id], hosts[context.invocation_id]
        trace_id, span_id = host_span(context)
        assert item["data"]["baseType"] == "RemoteDependencyData"
        data = base(item)
        assert data["type"] == "InProc"
        assert data["name"] == context.function_name == base(host)["name"]
        assert item["tags"]["ai.operation.id"] == trace_id == host["tags"]["ai.operation.id"]
        assert item["tags"]["ai.operation.parentId"] == span_id == base(host)["id"]
        assert data["success"] is (not fails) is base(host)["success"]
        expected_code = ("500" if fails else "201") if not is_async else ("1" if fails else "0")
        assert data["resultCode"] == expected_code == base(host)["responseCode"]
        assert _duration_ms(data["duration"]) <= _duration_ms(base(host)["duration"])
        dimensions = props(item)
        assert set(dimensions) >= POOL_DIMENSIONS
        assert dimensions["execution_mode"] == ("async" if is_async else "sync")
        assert dimensions["invocation_id"] == context.invocation_id
        if not is_async:
            assert dimensions["pool_wait_source"] == "dispatcher"
            assert dimensions["pool_size"] == "4"
    # The invocation's own logs hang under its dependency.
    for trace in of_type(envelopes, "MessageData"):
        invocation_id = props(trace)["InvocationId"]
        assert trace["tags"]["ai.operation.parentId"] == base(items[invocation_id])["id"]
    # Every dimension the invocation item carries is in the README's table of what appears where.
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `dependencies` of type"))
    emitted = {name for item in items.values() for name in props(item)}
    assert {name for name in emitted if f"`{name}`" not in row} == set()


def test_every_trace_and_exception_carries_the_host_dimensions(
    telemetry: IngestionEmulator,
) -> None:
    """Each trace and exception of an invocation has InvocationId, Category, LogLevel (host
    spelling) and ProcessId beside invocation_id, function_name and level."""
    with LocalDispatcher(max_workers=4) as dispatcher:
        ran = run_burst(dispatcher)
    envelopes = delivered(telemetry, len(ran))
    functions = {context.invocation_id: context.function_name for context, _, _ in ran}
    logs = of_type(envelopes, "MessageData") + of_type(envelopes, "ExceptionData")
    seen_levels = set()
    for envelope in logs:
        dimensions = props(envelope)
        invocation_id = dimensions["InvocationId"]
        assert dimensions["invocation_id"] == invocation_id
        assert dimensions["function_name"] == functions[invocation_id]
        assert dimensions["Category"] == f"Function.{functions[invocation_id]}.User"
        assert dimensions["ProcessId"] == str(os.getpid())
        assert dimensions["LogLevel"] in HOST_LEVELS.values()
        if "level" in dimensions:
            level = logging.getLevelName(dimensions["level"])
            assert dimensions["LogLevel"] == HOST_LEVELS[level]
        seen_levels.add(dimensions["LogLevel"])
    assert seen_levels == {"Information", "Warning", "Error", "Critical"}  # root is at INFO
    # The exceptions that escaped the functions carry them too, at Error.
    escaped = [e for e in of_type(envelopes, "ExceptionData") if props(e).get("handled") == "false"]
    assert len(escaped) == sum(fails for _, _, fails in ran)
    assert {props(e)["LogLevel"] for e in escaped} == {"Error"}
    # Per invocation: every record, sync and async, whichever task logged it.
    per_invocation: dict[str, int] = {}
    for envelope in of_type(envelopes, "MessageData"):
        per_invocation[props(envelope)["InvocationId"]] = (
            per_invocation.get(props(envelope)["InvocationId"], 0) + 1
        )
    for context, is_async, fails in ran:
        expected = (1 + (0 if fails else 1)) if is_async else 4
        assert per_invocation[context.invocation_id] == expected


def test_the_workers_own_loggers_are_not_exported(telemetry: IngestionEmulator) -> None:
    """Records of the worker's and runtime's loggers, logged inside sync and async invocations,
    never reach the endpoint; the user's records around them do."""
    with LocalDispatcher(max_workers=4) as dispatcher:
        ran = run_burst(dispatcher, count=4)
    envelopes = delivered(telemetry, len(ran))
    messages = [base(e)["message"] for e in of_type(envelopes, "MessageData")]
    assert messages, "the user's records must be exported"
    assert not [m for m in messages if "FunctionInvocationRequest" in m]
    loggers = {props(e)["logger_name"] for e in of_type(envelopes, "MessageData")}
    assert "tests.host_shape" in loggers
    assert not [name for name in loggers if name.startswith(("azure_functions", "proxy_worker"))]


def test_a_stale_stamp_on_the_loop_thread_tags_nothing(telemetry: IngestionEmulator) -> None:
    """The dispatcher leaves each invocation's id on its loop thread, as the worker does; code on
    that thread outside any invocation is not tagged with the invocation still running."""
    release = threading.Event()
    running = threading.Event()

    @azfunc_telemetry.instrument
    def blocking(context: func.Context) -> None:
        running.set()
        assert release.wait(30)

    async def plain_loop_code() -> None:
        # Not instrumented: runs on the loop thread, in no invocation.
        log.info("loop thread, outside any invocation")

    with LocalDispatcher(max_workers=2) as dispatcher:
        context = FakeContext("blocking")
        blocked = dispatcher.invoke(blocking, context)
        assert running.wait(30)
        # The loop thread's stamp names the running sync invocation now.
        own_storage = FakeContext("plain", thread_local_storage=threading.local())
        dispatcher.invoke(plain_loop_code, own_storage).result(30)
        release.set()
        blocked.result(30)
    assert azfunc_telemetry.flush(10)
    envelopes = telemetry.wait_for(
        lambda es: any(
            base(e).get("message") == "loop thread, outside any invocation"
            for e in of_type(es, "MessageData")
        ),
        timeout=15,
    )
    (record,) = [
        e
        for e in of_type(envelopes, "MessageData")
        if base(e)["message"] == "loop thread, outside any invocation"
    ]
    assert "invocation_id" not in props(record)
    assert "InvocationId" not in props(record)
    assert "ai.operation.id" not in record["tags"]


def test_a_stamp_in_a_users_thread_still_tags_its_invocation(
    telemetry: IngestionEmulator,
) -> None:
    """The worker's documented convention keeps working: a thread of the user's own, stamped
    with a running invocation's id, logs under that invocation."""

    def audit(context: func.Context) -> None:
        storage: Any = context.thread_local_storage
        storage.invocation_id = context.invocation_id
        try:
            log.info("audited")
        finally:
            storage.invocation_id = None

    @azfunc_telemetry.instrument
    async def stamping(context: func.Context) -> None:
        thread = threading.Thread(target=audit, args=(context,))
        thread.start()
        await asyncio.to_thread(thread.join)

    with LocalDispatcher(max_workers=2) as dispatcher:
        context = FakeContext("stamping")
        dispatcher.invoke(stamping, context).result(30)
    assert azfunc_telemetry.flush(10)
    envelopes = telemetry.wait_for(
        lambda es: any(base(e).get("message") == "audited" for e in of_type(es, "MessageData")),
        timeout=15,
    )
    (record,) = [e for e in of_type(envelopes, "MessageData") if base(e)["message"] == "audited"]
    assert props(record)["InvocationId"] == context.invocation_id


def _duration_ms(value: str) -> float:
    days, rest = value.split(".", 1)
    hours, minutes, seconds = rest.split(":")
    return ((int(days) * 24 + int(hours)) * 60 + int(minutes)) * 60_000 + float(seconds) * 1000


def _run_in_request_mode(
    emulator: IngestionEmulator, configure: Callable[[], object]
) -> list[Envelope]:
    configure()
    with LocalDispatcher(max_workers=4, host_requests=False) as dispatcher:
        ran = run_burst(dispatcher, count=4)
    assert azfunc_telemetry.flush(10)
    envelopes = emulator.wait_for(lambda es: len(of_type(es, "RequestData")) >= len(ran), 15)
    requests = of_type(envelopes, "RequestData")
    assert len(requests) == len(ran)
    assert {props(e)["InvocationId"] for e in requests} == {c.invocation_id for c, _, _ in ran}
    for request in requests:
        assert set(props(request)) >= POOL_DIMENSIONS
    assert not [
        e for e in of_type(envelopes, "RemoteDependencyData") if base(e)["type"] == "InProc"
    ]
    return envelopes


def test_host_json_without_host_results_makes_each_invocation_a_request(
    emulator: IngestionEmulator,
    info_logging: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With ``Host.Results`` at None in host.json, auto reports requests, and says so at debug."""
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "logging": {"logLevel": {"Host.Results": "None"}}})
    )
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    with caplog.at_level(logging.DEBUG, logger="azfunc_telemetry"):
        _run_in_request_mode(
            emulator,
            lambda: azfunc_telemetry.setup(
                connection_string=emulator.connection_string, export_interval_s=0.05
            ),
        )
    choices = [r.getMessage() for r in caplog.records if "reported as" in r.getMessage()]
    assert choices == ['invocations are reported as request items: "Host.Results" is "None" '
                       "in host.json"]  # fmt: skip
    assert all(r.levelno == logging.DEBUG for r in caplog.records if "reported as" in r.message)


def test_the_app_setting_override_of_host_results_is_honoured(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AzureFunctionsJobHost__logging__logLevel__Host.Results=None`` turns requests on too."""
    monkeypatch.setenv("AzureFunctionsJobHost__logging__logLevel__Host.Results", "None")
    _run_in_request_mode(
        emulator,
        lambda: azfunc_telemetry.setup(
            connection_string=emulator.connection_string, export_interval_s=0.05
        ),
    )


def test_the_app_setting_asks_for_requests(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AZFUNC_TELEMETRY_INVOCATION_TELEMETRY=request`` reports requests whatever the host does."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_INVOCATION_TELEMETRY", "request")
    _run_in_request_mode(
        emulator,
        lambda: azfunc_telemetry.setup(
            connection_string=emulator.connection_string, export_interval_s=0.05
        ),
    )


def test_the_argument_wins_over_the_app_setting(
    emulator: IngestionEmulator, info_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``setup(invocation_telemetry="request")`` wins over the app setting saying dependency."""
    monkeypatch.setenv("AZFUNC_TELEMETRY_INVOCATION_TELEMETRY", "dependency")
    _run_in_request_mode(
        emulator,
        lambda: azfunc_telemetry.setup(
            connection_string=emulator.connection_string,
            export_interval_s=0.05,
            invocation_telemetry="request",
        ),
    )
