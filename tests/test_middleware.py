"""The invocation middleware: requests, failures, correlation, concurrency and saturation."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator, LocalDispatcher

log = logging.getLogger("tests.middleware")
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{HOST_SPAN}-01"


@pytest.fixture
def emulator(emulator: IngestionEmulator, info_logging: None) -> IngestionEmulator:
    """The shared emulator, with telemetry reporting each invocation as a ``requests`` row
    through a deep queue, as where the host writes none (the dispatchers here write none
    either; the dependency shape has tests of its own)."""
    azfunc_telemetry.setup(
        connection_string=emulator.connection_string,
        export_interval_s=0.05,
        queue_size=20_000,
        invocation_telemetry="request",
    )
    return emulator


def _duration_ms(value: str) -> float:
    days, rest = value.split(".", 1)
    hours, minutes, seconds = rest.split(":")
    return ((int(days) * 24 + int(hours)) * 60 + int(minutes)) * 60_000 + float(seconds) * 1000


class Truth:
    """What the test itself observes, to hold the middleware's numbers against."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.body_ms: dict[str, float] = {}
        self.async_outstanding = 0
        self.async_outstanding_max = 0


def test_hundred_invocations_produce_exact_requests_with_true_durations_and_counts(
    emulator: IngestionEmulator,
) -> None:
    """100 mixed invocations: 100 requests, true durations, counts never above the truth."""
    truth = Truth()
    release = threading.Event()

    @azfunc_telemetry.instrument
    def blocking(index: int, context: Any) -> int:
        started = time.perf_counter()
        if index % 5 == 0:
            release.wait(5)
        log.info("sync %d", index)
        truth.body_ms[context.invocation_id] = (time.perf_counter() - started) * 1000
        return index

    @azfunc_telemetry.instrument
    async def waiting(index: int, context: Any) -> int:
        started = time.perf_counter()
        await asyncio.sleep(0.001 * (index % 4))
        log.info("async %d", index)
        truth.body_ms[context.invocation_id] = (time.perf_counter() - started) * 1000
        return index

    def done(_: object) -> None:
        with truth.lock:
            truth.async_outstanding -= 1

    with LocalDispatcher(max_workers=4, host_requests=False) as dispatcher:
        futures = []
        for index in range(100):
            if index % 2:
                with truth.lock:
                    truth.async_outstanding += 1
                    truth.async_outstanding_max = max(
                        truth.async_outstanding_max, truth.async_outstanding
                    )
                future = dispatcher.invoke(waiting, FakeContext("waiting"), index=index)
                future.add_done_callback(done)
            else:
                future = dispatcher.invoke(blocking, FakeContext("blocking"), index=index)
            futures.append(future)
        release.set()
        assert sorted(f.result(30) for f in futures) == list(range(100))

    assert azfunc_telemetry.flush(10)
    envelopes = emulator.wait_for(count_type("RequestData", 100), timeout=10)
    requests = of_type(envelopes, "RequestData")
    assert len(requests) == 100
    for request in requests:
        dims = props(request)
        body = truth.body_ms[dims["invocation_id"]]
        measured = _duration_ms(base(request)["duration"])
        assert body <= measured + 0.5
        assert measured - body < 25, (measured, body)
        assert base(request)["success"] is True
        if dims["execution_mode"] == "sync":
            assert 1 <= int(dims["inflight_sync_at_start"]) <= 4
            assert dims["pool_size"] == "4"
            assert dims["pool_size_source"] == "executor"
            assert float(dims["pool_wait_ms"]) >= 0
        else:
            assert 1 <= int(dims["inflight_async_at_start"]) <= truth.async_outstanding_max
            assert dims["thread_name"] == "local-dispatcher-loop"


@pytest.mark.parametrize(("pool", "saturates"), [(4, True), (32, False)])
def test_saturation_is_reported_only_when_the_pool_is_too_small(
    emulator: IngestionEmulator, caplog: pytest.LogCaptureFixture, pool: int, saturates: bool
) -> None:
    """16 blocking sync invocations saturate a pool of 4 (warned, counted) but not one of 32."""
    caplog.set_level(logging.WARNING, logger="azfunc_telemetry")
    started = threading.Semaphore(0)
    release = threading.Event()

    @azfunc_telemetry.instrument
    def slow_io(context: Any) -> None:
        started.release()
        release.wait(10)

    with LocalDispatcher(max_workers=pool, host_requests=False) as dispatcher:
        futures = [dispatcher.invoke(slow_io, FakeContext("slow_io")) for _ in range(16)]
        for _ in range(min(pool, 16)):
            assert started.acquire(timeout=10)
        release.set()
        for future in futures:
            future.result(10)

    assert azfunc_telemetry.flush(10)
    envelopes = emulator.wait_for(count_type("RequestData", 16), timeout=10)
    saturated = [props(r)["pool_saturated"] for r in of_type(envelopes, "RequestData")]
    waits = [float(props(r)["pool_wait_ms"]) for r in of_type(envelopes, "RequestData")]
    warnings = [r.getMessage() for r in caplog.records if "saturated" in r.getMessage()]
    metrics = {
        base(m)["metrics"][0]["name"]: base(m)["metrics"][0]["value"]
        for m in of_type(envelopes, "MetricData")
    }
    if saturates:
        assert "true" in saturated
        assert max(waits) > 0
        assert len(warnings) == 1
        assert "PYTHON_THREADPOOL_THREAD_COUNT" in warnings[0]
        assert "async def" in warnings[0]
        assert metrics["azfunc_pool_saturated_invocations"] >= 1
        assert metrics["azfunc_inflight_sync"] == 4
    else:
        assert set(saturated) == {"false"}
        assert warnings == []
        assert metrics["azfunc_pool_saturated_invocations"] == 0
        assert metrics["azfunc_pool_utilization"] == 0.5


def test_traceparent_joins_request_traces_and_span(emulator: IngestionEmulator) -> None:
    """Request, traces and dependency share the trace id; each is parented to what encloses it."""

    @azfunc_telemetry.instrument
    def orders(context: Any) -> str:
        log.info("before the query")
        with azfunc_telemetry.span("orders-db", type="SQL", target="db01", data="SELECT 1") as sp:
            log.info("inside the query")
            sp.result_code = 0
        return "ok"

    orders(context=FakeContext("orders", trace_parent=TRACEPARENT))
    envelopes = emulator.wait_for(count_type("RemoteDependencyData", 1), timeout=10)
    envelopes = emulator.wait_for(count_type("RequestData", 1), timeout=10)
    (request,) = of_type(envelopes, "RequestData")
    (dependency,) = of_type(envelopes, "RemoteDependencyData")
    traces = {base(e)["message"]: e for e in of_type(envelopes, "MessageData")}
    request_id = base(request)["id"]
    assert request["tags"]["ai.operation.id"] == TRACE_ID
    assert request["tags"]["ai.operation.parentId"] == HOST_SPAN
    assert request["tags"]["ai.operation.name"] == "orders"
    assert base(request)["name"] == "orders"
    for trace in traces.values():
        assert trace["tags"]["ai.operation.id"] == TRACE_ID
        assert trace["tags"]["ai.operation.name"] == "orders"
    assert traces["before the query"]["tags"]["ai.operation.parentId"] == request_id
    assert dependency["tags"]["ai.operation.parentId"] == request_id
    assert traces["inside the query"]["tags"]["ai.operation.parentId"] == base(dependency)["id"]
    assert base(dependency)["type"] == "SQL"
    assert base(dependency)["target"] == "db01"
    assert base(dependency)["success"] is True


def test_async_span_and_nested_spans_parent_correctly(emulator: IngestionEmulator) -> None:
    """async with span(); a span inside a span is parented to the outer one."""

    @azfunc_telemetry.instrument
    async def pipeline(context: Any) -> None:
        async with azfunc_telemetry.span("outer"):
            with azfunc_telemetry.span("inner"):
                log.info("deep")

    asyncio.run(pipeline(context=FakeContext("pipeline", trace_parent=TRACEPARENT)))
    envelopes = emulator.wait_for(count_type("RemoteDependencyData", 2), timeout=10)
    deps = {base(d)["name"]: d for d in of_type(envelopes, "RemoteDependencyData")}
    assert deps["inner"]["tags"]["ai.operation.parentId"] == base(deps["outer"])["id"]
    emulator.wait_for(count_type("MessageData", 1), timeout=10)
    (trace,) = of_type(emulator.envelopes, "MessageData")
    assert trace["tags"]["ai.operation.parentId"] == base(deps["inner"])["id"]


def test_failure_marks_the_request_failed_reports_the_stack_and_reraises_the_same_object(
    emulator: IngestionEmulator,
) -> None:
    """The very exception object reaches the caller; telemetry has the failed request and stack."""
    raised = RuntimeError("payment declined")

    def charge() -> None:
        raise raised

    @azfunc_telemetry.instrument
    def checkout(context: Any) -> None:
        charge()

    with pytest.raises(RuntimeError) as caught:
        checkout(context=FakeContext("checkout", trace_parent=TRACEPARENT))
    assert caught.value is raised

    envelopes = emulator.wait_for(count_type("ExceptionData", 1), timeout=10)
    envelopes = emulator.wait_for(count_type("RequestData", 1), timeout=10)
    (request,) = of_type(envelopes, "RequestData")
    (exception,) = of_type(envelopes, "ExceptionData")
    assert base(request)["success"] is False
    assert base(request)["responseCode"] == "1"
    detail = base(exception)["exceptions"][0]
    assert detail["typeName"] == "RuntimeError"
    assert detail["message"] == "payment declined"
    assert [f["method"] for f in detail["parsedStack"]][:2] == ["charge", "checkout"]
    assert exception["tags"]["ai.operation.parentId"] == base(request)["id"]
    assert exception["tags"]["ai.operation.id"] == TRACE_ID


def test_failing_span_is_marked_failed_and_the_error_propagates(
    emulator: IngestionEmulator,
) -> None:
    """An exception inside span() fails the dependency and is not swallowed."""

    @azfunc_telemetry.instrument
    def call(context: Any) -> None:
        with azfunc_telemetry.span("flaky-api", type="HTTP"):
            raise TimeoutError("upstream")

    with pytest.raises(TimeoutError):
        call(context=FakeContext("call"))
    envelopes = emulator.wait_for(count_type("RemoteDependencyData", 1), timeout=10)
    (dependency,) = of_type(envelopes, "RemoteDependencyData")
    assert base(dependency)["success"] is False
    assert base(dependency)["resultCode"] == "1"


def test_http_trigger_reports_status_url_and_trigger_type(emulator: IngestionEmulator) -> None:
    """An HttpResponse's status becomes the result code; 5xx fails the request; URL is scrubbed."""
    import azure.functions as func

    @azfunc_telemetry.instrument
    def api(req: func.HttpRequest) -> func.HttpResponse:
        status = int(req.params.get("status", "200"))
        return func.HttpResponse("body", status_code=status)

    for status in ("201", "503"):
        request = func.HttpRequest(
            "GET",
            f"http://localhost/api/x?status={status}&code=s3cr3tkey",
            params={"status": status, "code": "s3cr3tkey"},
            body=b"",
        )
        api(req=request, context=FakeContext("api"))  # type: ignore[call-arg]
    positional = func.HttpRequest(
        "GET", "http://localhost/api/y", params={"status": "202"}, body=b""
    )
    api(positional, context=FakeContext("api"))  # type: ignore[call-arg]
    envelopes = emulator.wait_for(count_type("RequestData", 3), timeout=10)
    rows = {base(r)["responseCode"]: base(r) for r in of_type(envelopes, "RequestData")}
    assert rows["202"]["url"] == "http://localhost/api/y"
    assert rows["201"]["success"] is True
    assert rows["503"]["success"] is False
    assert "s3cr3tkey" not in rows["201"]["url"]
    assert rows["201"]["url"].startswith("http://localhost/api/x?status=201&code=")
    assert rows["201"]["properties"]["trigger_type"] == "httpTrigger"


def test_retry_count_comes_from_the_retry_context(emulator: IngestionEmulator) -> None:
    """context.retry_context.retry_count is reported."""

    @azfunc_telemetry.instrument
    def retried(context: Any) -> None:
        return None

    retried(context=FakeContext("retried", retry_count=3, max_retry_count=5))
    envelopes = emulator.wait_for(count_type("RequestData", 1), timeout=10)
    assert props(of_type(envelopes, "RequestData")[0])["retry_count"] == "3"


def test_cold_start_is_true_exactly_once_per_process(tmp_path: Any) -> None:
    """In a fresh process, the first invocation only is a cold start, even when concurrent."""
    script = """
import asyncio, json, sys
from concurrent.futures import ThreadPoolExecutor
import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

@azfunc_telemetry.instrument
def f(context):
    return None

@azfunc_telemetry.instrument
async def g(context):
    return None

with IngestionEmulator() as emu:
    azfunc_telemetry.setup(
        connection_string=emu.connection_string,
        export_interval_s=0.05,
        invocation_telemetry="request",
    )
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: f(context=FakeContext("f")), range(20)))

    async def many():
        await asyncio.gather(*(g(context=FakeContext("g")) for _ in range(10)))

    asyncio.run(many())
    assert azfunc_telemetry.flush(10)
    def requests(envelopes):
        return [e for e in envelopes if e["data"]["baseType"] == "RequestData"]

    rows = requests(emu.wait_for(lambda es: len(requests(es)) >= 30, 10))
    flags = [e["data"]["baseData"]["properties"]["cold_start"] for e in rows]
    print(json.dumps(flags))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    flags = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert len(flags) == 30
    assert flags.count("true") == 1
