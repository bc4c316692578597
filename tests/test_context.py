"""Invocation context, thread helpers, the tagging filter, host.json checks and the public API."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import azfunc_telemetry
from azfunc_telemetry.capture.ids import parse_traceparent
from azfunc_telemetry.invocation.hostjson import (
    host_forwards_logs,
    parse_timespan_s,
    read_host_settings,
)
from azfunc_telemetry.testing import FakeContext


def test_current_invocation_is_set_inside_and_reset_after() -> None:
    """The context is current for the call only, in sync and async functions."""
    seen: list[str | None] = []

    @azfunc_telemetry.instrument
    def sync_entry(context: Any) -> None:
        current = azfunc_telemetry.current_invocation()
        seen.append(current.invocation_id if current else None)

    @azfunc_telemetry.instrument
    async def async_entry(context: Any) -> None:
        current = azfunc_telemetry.current_invocation()
        seen.append(current.invocation_id if current else None)

    one, two = FakeContext("a", invocation_id="one"), FakeContext("b", invocation_id="two")
    sync_entry(context=one)
    asyncio.run(async_entry(context=two))
    assert seen == ["one", "two"]
    assert azfunc_telemetry.current_invocation() is None


def test_wrapped_callable_runs_in_the_invocation_and_stamps_the_worker_storage() -> None:
    """wrap_in_invocation carries the context and sets the worker's thread-local id meanwhile."""
    context = FakeContext("fan", invocation_id="inv-7")
    observed: dict[str, Any] = {}

    def work() -> None:
        current = azfunc_telemetry.current_invocation()
        observed["id"] = current.invocation_id if current else None
        observed["tls"] = getattr(context.thread_local_storage, "invocation_id", None)

    @azfunc_telemetry.instrument
    def entry(context: Any) -> threading.Thread:
        return threading.Thread(target=azfunc_telemetry.wrap_in_invocation(work))

    thread = entry(context=context)
    # Started after the invocation ended: still carries the captured invocation context.
    thread.start()
    thread.join()
    assert observed == {"id": "inv-7", "tls": "inv-7"}


def test_wrapped_callable_can_run_concurrently_in_many_threads() -> None:
    """Each call gets its own copy of the context, so parallel calls don't collide."""
    variable: contextvars.ContextVar[int] = contextvars.ContextVar("v", default=0)
    variable.set(41)
    barrier = threading.Barrier(4)

    def work() -> int:
        barrier.wait(5)
        variable.set(variable.get() + 1)
        return variable.get()

    wrapped = azfunc_telemetry.wrap_in_invocation(work)
    with azfunc_telemetry.InvocationExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: wrapped(), range(4)))
    assert results == [42, 42, 42, 42]


def test_executor_tasks_run_in_the_submitting_invocation() -> None:
    """One shared InvocationExecutor serves concurrent invocations, each task in its own."""
    pool = azfunc_telemetry.InvocationExecutor(max_workers=2)
    seen: dict[str, str | None] = {}

    def task(tag: str) -> None:
        current = azfunc_telemetry.current_invocation()
        seen[tag] = current.invocation_id if current else None

    @azfunc_telemetry.instrument
    def entry(tag: str, context: Any) -> None:
        pool.submit(task, tag).result(5)

    threads = [
        threading.Thread(
            target=entry, kwargs={"tag": t, "context": FakeContext("e", invocation_id=t)}
        )
        for t in ("a", "b", "c")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.shutdown()
    assert seen == {"a": "a", "b": "b", "c": "c"}


def test_runtime_invocation_variable_is_stamped_when_the_313_runtime_is_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the 3.13+ runtime the helper also sets azure_functions_runtime.invocation_id_cv."""
    runtime = types.ModuleType("azure_functions_runtime")
    invocation_id_cv: contextvars.ContextVar[str] = contextvars.ContextVar("invocation_id")
    runtime.invocation_id_cv = invocation_id_cv  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_runtime", runtime)
    seen: list[str | None] = []

    def record_runtime_id() -> None:
        seen.append(invocation_id_cv.get(None))

    @azfunc_telemetry.instrument
    def entry(context: Any) -> threading.Thread:
        return threading.Thread(target=azfunc_telemetry.wrap_in_invocation(record_runtime_id))

    thread = entry(context=FakeContext("rt", invocation_id="cv-1"))
    thread.start()
    thread.join()
    assert seen == ["cv-1"]


def test_filter_adds_invocation_attributes_for_formatters() -> None:
    """InvocationContextFilter lets a console handler print %(invocation_id)s."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(azfunc_telemetry.InvocationContextFilter())
    logger = logging.getLogger("tests.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:

        @azfunc_telemetry.instrument
        def entry(context: Any) -> None:
            logger.warning("inside")

        entry(context=FakeContext("filtered", invocation_id="f-1"))
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert [(r.invocation_id, r.function_name) for r in records] == [  # type: ignore[attr-defined]
        ("f-1", "filtered"),
        ("", ""),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        ),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", None),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", None),
        ("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None),
        ("00-0af7651916cd43dd8448eb211c8031zz-b7ad6b7169203331-01", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_traceparent_parsing(header: str | None, expected: tuple[str, str] | None) -> None:
    """Valid headers split into ids; invalid or all-zero ones start a fresh trace."""
    assert parse_traceparent(header) == expected


def test_malformed_traceparent_starts_a_fresh_trace() -> None:
    """A broken upstream header never joins unrelated invocations into one operation."""
    ids = set()

    @azfunc_telemetry.instrument
    def entry(context: Any) -> None:
        current = azfunc_telemetry.current_invocation()
        assert current is not None
        assert current.host_parent_id is None
        ids.add(current.operation_id)

    for _ in range(3):
        entry(context=FakeContext("bad", trace_parent="00-zz-zz-01"))
    assert len(ids) == 3


def test_host_json_timeout_and_duplicate_detection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """functionTimeout is read; classic mode without Function=None means duplicates."""
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "functionTimeout": "00:10:00"})
    )
    settings = read_host_settings()
    assert settings.function_timeout_s == 600
    assert host_forwards_logs(settings)
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "logging": {"logLevel": {"Function": "None"}}})
    )
    assert not host_forwards_logs(read_host_settings())
    (tmp_path / "host.json").write_text(json.dumps({"telemetryMode": "OpenTelemetry"}))
    assert not host_forwards_logs(read_host_settings())
    assert parse_timespan_s("1.02:00:30") == 93630
    assert parse_timespan_s("-1") is None


def test_setup_warns_about_duplicates_under_the_functions_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under the host, in classic mode, setup warns once that each record would be stored twice."""
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    monkeypatch.setenv("FUNCTIONS_WORKER_RUNTIME", "python")
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    caplog.set_level(logging.WARNING, logger="azfunc_telemetry")
    azfunc_telemetry.setup(
        connection_string="InstrumentationKey=00000000-0000-0000-0000-000000000001"
    )
    duplicates = [r.getMessage() for r in caplog.records if "stored twice" in r.getMessage()]
    assert len(duplicates) == 1
    assert '"Function": "None"' in duplicates[0]


def test_public_api_is_sorted_complete_and_typed() -> None:
    """__all__ is sorted, every name resolves, and the package ships py.typed."""
    names = azfunc_telemetry.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(azfunc_telemetry, name) is not None
    assert set(names) <= set(dir(azfunc_telemetry))
    assert (Path(azfunc_telemetry.__file__).parent / "py.typed").exists()
    with pytest.raises(AttributeError):
        azfunc_telemetry.no_such_name  # noqa: B018


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    """Importing every submodule never turns a public function into a module attribute."""
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(azfunc_telemetry.__path__, "azfunc_telemetry."):
        if module.name != "azfunc_telemetry.__main__":
            importlib.import_module(module.name)
    for name in azfunc_telemetry.__all__:
        assert not isinstance(getattr(azfunc_telemetry, name), types.ModuleType), name


def test_warnings_still_reach_stderr_when_ours_is_the_only_handler(tmp_path: Path) -> None:
    """A plain script keeps Python's last-resort warning output after setup()."""
    import subprocess

    script = (
        "import logging, azfunc_telemetry\n"
        "azfunc_telemetry.setup(exporter=azfunc_telemetry.InMemoryExporter())\n"
        "logging.getLogger('app').warning('disk almost full')\n"
        "logging.getLogger('app').info('routine detail')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "disk almost full" in result.stderr
    assert "routine detail" not in result.stderr


def test_the_function_json_runtime_variable_is_stamped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the function.json runtime loaded, helper threads set its invocation_id_cv as well."""
    monkeypatch.delitem(sys.modules, "azure_functions_runtime", raising=False)
    runtime = types.ModuleType("azure_functions_runtime_v1")
    invocation_id_cv: contextvars.ContextVar[str] = contextvars.ContextVar("invocation_id")
    runtime.invocation_id_cv = invocation_id_cv  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_runtime_v1", runtime)
    seen: list[str | None] = []

    def record_runtime_id() -> None:
        seen.append(invocation_id_cv.get(None))

    @azfunc_telemetry.instrument
    def entry(context: Any) -> threading.Thread:
        return threading.Thread(target=azfunc_telemetry.wrap_in_invocation(record_runtime_id))

    thread = entry(context=FakeContext("rt", invocation_id="cv-v1"))
    thread.start()
    thread.join()
    assert seen == ["cv-v1"]
    assert invocation_id_cv.get(None) is None  # reset when the wrapped call ended


def test_async_invocations_set_the_runtime_variable_for_to_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runtime sets its invocation_id_cv for sync functions only; async ones get it from us.

    ``asyncio.to_thread`` copies the task's context, so its records then reach the worker
    with the invocation; the variable is reset when the invocation ends.
    """
    monkeypatch.delitem(sys.modules, "azure_functions_runtime", raising=False)
    runtime = types.ModuleType("azure_functions_runtime_v1")
    invocation_id_cv: contextvars.ContextVar[str | None] = contextvars.ContextVar(
        "invocation_id", default=None
    )
    runtime.invocation_id_cv = invocation_id_cv  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure_functions_runtime_v1", runtime)

    @azfunc_telemetry.instrument
    async def entry(context: Any) -> str | None:
        return await asyncio.to_thread(invocation_id_cv.get)

    async def invoke() -> tuple[str | None, str | None]:
        seen = await entry(context=FakeContext("rt", invocation_id="cv-async"))
        return seen, invocation_id_cv.get()

    assert asyncio.run(invoke()) == ("cv-async", None)
