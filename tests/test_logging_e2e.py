"""End to end: records from every place an invocation's code can run reach the endpoint tagged."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import base, count_type, of_type, props

import azfunc_telemetry
from azfunc_telemetry.testing import FakeContext, IngestionEmulator

log = logging.getLogger("tests.e2e")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
HOST_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def telemetry(emulator: IngestionEmulator, info_logging: None) -> IngestionEmulator:
    azfunc_telemetry.setup(connection_string=emulator.connection_string, export_interval_s=0.05)
    return emulator


def entry_that_logs(message: str) -> Callable[..., None]:
    """An instrumented entry point whose body logs ``message`` at INFO."""

    @azfunc_telemetry.instrument
    def entry(context: Any) -> None:
        log.info(message)

    return entry


def run_on_a_thread(body: Callable[[], None]) -> None:
    """Run ``body`` on a thread of its own, to its end."""
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()


def _raw_thread_with_worker_convention(context: Any, probe: str) -> threading.Thread:
    def body() -> None:
        # What the Functions docs tell users to do in their own threads.
        context.thread_local_storage.invocation_id = context.invocation_id
        try:
            log.info("raw thread", extra={"probe": probe})
        finally:
            context.thread_local_storage.invocation_id = None

    return threading.Thread(target=body)


def _start_helper_and_raw_threads(
    context: Any, index: int
) -> tuple[threading.Thread, threading.Thread]:
    """From inside an invocation: start a thread wrapped with ``wrap_in_invocation`` and one
    that tags itself the worker's way, each logging one probe."""
    helper = threading.Thread(
        target=azfunc_telemetry.wrap_in_invocation(log.info),
        args=("helper thread",),
        kwargs={"extra": {"probe": f"{index}:helper"}},
    )
    raw = _raw_thread_with_worker_convention(context, f"{index}:raw")
    helper.start()
    raw.start()
    return helper, raw


@azfunc_telemetry.instrument
def sync_entry(index: int, context: Any) -> int:
    log.info("sync body", extra={"probe": f"{index}:body"})
    helper, raw = _start_helper_and_raw_threads(context, index)
    with azfunc_telemetry.InvocationExecutor(max_workers=2) as pool:
        pool.submit(log.info, "executor", extra={"probe": f"{index}:executor"}).result()
    helper.join()
    raw.join()
    return index


@azfunc_telemetry.instrument
async def async_entry(index: int, context: Any) -> int:
    log.info("async body", extra={"probe": f"{index}:body"})

    async def child() -> None:
        await asyncio.sleep(0)
        log.info("child task", extra={"probe": f"{index}:task"})

    await asyncio.gather(child(), asyncio.create_task(child()))
    await asyncio.to_thread(log.info, "to_thread", extra={"probe": f"{index}:to_thread"})
    helper, raw = _start_helper_and_raw_threads(context, index)
    await asyncio.to_thread(helper.join)
    await asyncio.to_thread(raw.join)
    return index


def _run_sync_like_worker(contexts: list[FakeContext], pool_size: int) -> list[int]:
    """A pool thread per invocation, thread-local id set and cleared, no context copied."""

    def run(index: int, context: FakeContext) -> int:
        context.thread_local_storage.invocation_id = context.invocation_id
        try:
            return sync_entry(index=index, context=context)
        finally:
            context.thread_local_storage.invocation_id = None

    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        futures = [pool.submit(run, i, c) for i, c in enumerate(contexts)]
        return [f.result() for f in futures]


async def _run_async_like_worker(contexts: list[FakeContext], offset: int) -> list[int]:
    return list(
        await asyncio.gather(
            *(async_entry(index=offset + i, context=c) for i, c in enumerate(contexts))
        )
    )


def test_two_hundred_concurrent_invocations_tag_every_record_exactly_once(
    telemetry: IngestionEmulator,
) -> None:
    """Sync and async invocations log from threads, tasks and executors: once each, right id."""
    sync_contexts = [FakeContext("sync_entry") for _ in range(100)]
    async_contexts = [FakeContext("async_entry") for _ in range(100)]
    outcome: dict[str, list[int]] = {}

    def run_async() -> None:
        outcome["async"] = asyncio.run(_run_async_like_worker(async_contexts, 100))

    loop_thread = threading.Thread(target=run_async)
    loop_thread.start()
    outcome["sync"] = _run_sync_like_worker(sync_contexts, pool_size=8)
    loop_thread.join(60)
    assert outcome["sync"] == list(range(100))
    assert outcome["async"] == list(range(100, 200))

    expected: dict[str, str] = {}
    for i, context in enumerate(sync_contexts):
        for where in ("body", "helper", "raw", "executor"):
            expected[f"{i}:{where}"] = context.invocation_id
    for i, context in enumerate(async_contexts, start=100):
        for where in ("body", "to_thread", "helper", "raw"):
            expected[f"{i}:{where}"] = context.invocation_id
    task_probes = {f"{i}:task": c.invocation_id for i, c in enumerate(async_contexts, start=100)}
    total = len(expected) + 2 * len(task_probes)

    assert azfunc_telemetry.flush(10)
    envelopes = telemetry.wait_for(count_type("MessageData", total), timeout=20)
    traces = [e for e in of_type(envelopes, "MessageData") if "probe" in props(e)]
    assert len(traces) == total
    seen: dict[str, int] = {}
    names = {c.invocation_id: "sync_entry" for c in sync_contexts}
    names.update({c.invocation_id: "async_entry" for c in async_contexts})
    for envelope in traces:
        dims = props(envelope)
        probe = dims["probe"]
        seen[probe] = seen.get(probe, 0) + 1
        owner = expected.get(probe) or task_probes[probe]
        assert dims["invocation_id"] == owner, probe
        assert dims["function_name"] == names[owner]
        assert dims["level"] == "INFO"
    assert set(seen) == set(expected) | set(task_probes)
    assert all(count == 1 for p, count in seen.items() if p not in task_probes)
    assert all(seen[p] == 2 for p in task_probes)


def test_records_outside_invocations_are_exported_without_invocation_dimensions(
    telemetry: IngestionEmulator,
) -> None:
    """Import-time and background records are sent, with no invocation id borrowed from anyone."""
    context = FakeContext("stale")
    entry = entry_that_logs("inside")

    def pool_thread() -> None:
        entry(context=context)
        # The worker clears its thread-local; this pool thread is then reused for other work.
        log.info("after the invocation ended")

    run_on_a_thread(pool_thread)
    log.info("module level")
    envelopes = telemetry.wait_for(count_type("MessageData", 3), timeout=10)
    by_message = {base(e)["message"]: props(e) for e in of_type(envelopes, "MessageData")}
    assert by_message["inside"]["invocation_id"] == context.invocation_id
    assert "invocation_id" not in by_message["after the invocation ended"]
    assert "invocation_id" not in by_message["module level"]


def test_stale_thread_local_id_of_a_finished_invocation_is_ignored(
    telemetry: IngestionEmulator,
) -> None:
    """A thread-local id left behind (the worker never clears the loop thread's) tags nothing."""
    context = FakeContext("gone")
    entry_that_logs("during")(context=context)

    def leftover() -> None:
        context.thread_local_storage.invocation_id = context.invocation_id
        log.info("stale id on this thread")
        context.thread_local_storage.invocation_id = None

    run_on_a_thread(leftover)
    envelopes = telemetry.wait_for(count_type("MessageData", 2), timeout=10)
    stale = [e for e in of_type(envelopes, "MessageData") if base(e)["message"].startswith("stale")]
    assert len(stale) == 1
    assert "invocation_id" not in props(stale[0])


class Unserializable:
    def __str__(self) -> str:
        return "unserializable-object"


def test_extra_fields_become_custom_dimensions_exactly_once(telemetry: IngestionEmulator) -> None:
    """extra= keys arrive once each, flat, stringified when not JSON-serialisable."""

    @azfunc_telemetry.instrument
    def entry(context: Any) -> None:
        log.warning(
            "order %s placed",
            42,
            extra={"order_id": 42, "amount": 9.5, "tags": ["a", "b"], "thing": Unserializable()},
        )
        log.info("legacy", extra={"custom_dimensions": {"tenant": "contoso"}})

    entry(context=FakeContext("orders"))
    envelopes = telemetry.wait_for(count_type("MessageData", 2), timeout=10)
    traces = {base(e)["message"]: e for e in of_type(envelopes, "MessageData")}
    dims = props(traces["order 42 placed"])
    assert dims["order_id"] == "42"
    assert dims["amount"] == "9.5"
    assert dims["tags"] == '["a", "b"]'
    assert dims["thing"] == "unserializable-object"
    assert dims["level"] == "WARNING"
    assert base(traces["order 42 placed"])["severityLevel"] == 2
    # The request item may travel in a later batch: look at the one that carried the record.
    (raw,) = [r.body.decode() for r in telemetry.requests if b"order 42 placed" in r.body]
    assert raw.count('"order_id"') == 1
    legacy = props(traces["legacy"])
    assert legacy["tenant"] == "contoso"
    assert "custom_dimensions" not in legacy


def test_envelopes_are_what_the_service_accepts(telemetry: IngestionEmulator) -> None:
    """Path /v2.1/track despite the trailing slash, iKey, Z time, severities 0-4, limits."""
    assert telemetry.connection_string.endswith("/")

    @azfunc_telemetry.instrument
    def entry(context: Any) -> None:
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, 50, 60):
            log.log(level, "level %d", level)
        log.info("x" * 40_000)
        log.info("long key", extra={"k" * 200: "v" * 9000})

    logging.getLogger().setLevel(logging.DEBUG)
    entry(context=FakeContext("limits"))
    envelopes = telemetry.wait_for(count_type("MessageData", 8), timeout=10)
    assert all(r.request_line.split()[1] == "/v2.1/track" for r in telemetry.requests)
    time_format = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    for envelope in envelopes:
        assert envelope["iKey"] == telemetry.ikey
        assert time_format.match(envelope["time"])
    severities = {
        base(e)["message"]: base(e)["severityLevel"] for e in of_type(envelopes, "MessageData")
    }
    assert [severities[f"level {n}"] for n in (10, 20, 30, 40, 50, 60)] == [0, 1, 2, 3, 4, 4]
    long = next(base(e) for e in of_type(envelopes, "MessageData") if base(e)["message"][0] == "x")
    assert len(long["message"]) <= 32_768
    assert "truncated" in long["message"][-40:]
    key_env = next(e for e in of_type(envelopes, "MessageData") if base(e)["message"] == "long key")
    (long_key,) = [k for k in props(key_env) if k.startswith("kkk")]
    assert len(long_key) <= 150
    assert len(props(key_env)[long_key]) <= 8192
    assert all(r.status == 200 for r in telemetry.requests)


def test_logger_exception_becomes_an_exceptions_item_with_stack(
    telemetry: IngestionEmulator,
) -> None:
    """logger.exception sends ExceptionData with a parsed stack and the invocation's tags."""
    context = FakeContext("failing", trace_parent=f"00-{TRACE_ID}-{HOST_SPAN}-01")

    def inner() -> None:
        raise KeyError("missing-key")

    @azfunc_telemetry.instrument
    def entry(context: Any) -> str:
        try:
            inner()
        except KeyError:
            log.exception("lookup failed", extra={"step": "lookup"})
        return "handled"

    assert entry(context=context) == "handled"
    envelopes = telemetry.wait_for(count_type("ExceptionData", 1), timeout=10)
    (exception,) = of_type(envelopes, "ExceptionData")
    detail = base(exception)["exceptions"][0]
    assert detail["typeName"] == "KeyError"
    assert [frame["method"] for frame in detail["parsedStack"]][:2] == ["inner", "entry"]
    assert props(exception)["invocation_id"] == context.invocation_id
    assert props(exception)["step"] == "lookup"
    assert props(exception)["log_message"] == "lookup failed"
    assert exception["tags"]["ai.operation.id"] == TRACE_ID
