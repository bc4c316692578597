"""Plays the Functions host and the 3.13 proxy worker around a real runtime library, in-process.

On Python 3.13+ the worker process is a thin proxy: it owns the gRPC stream, the event loop,
the task factory and the root logging handler, and hands every request to a runtime library from
PyPI (``azure_functions_runtime`` for ``function_app.py`` apps, ``azure_functions_runtime_v1``
for ``function.json`` apps) by awaiting its handler coroutines. :class:`WorkerHost` does the
proxy's part without gRPC: it awaits the same coroutines with the same requests (built from
:mod:`rpc_messages`), tags tasks the way the proxy's task class does, and forwards every log
record the way its ``AsyncLoggingHandler`` does, finding the invocation id as it does (the
task's attribute, then the library's ``invocation_id_cv``, then the loop thread's last
invocation). It also applies the host's rule for user records: one without the id of an
invocation still executing is dropped. The library, the app and azfunc_telemetry are real.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import threading
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import rpc_messages as protos

__all__ = ["HostLog", "Invocation", "WorkerHost", "http_input", "queue_input", "timer_input"]

#: The attribute the worker's task class carries the invocation id in.
TASK_INVOCATION_ATTRIBUTE = "__azure_function_invocation_id__"
#: Logger names the worker forwards as its own (System) records, not the app's.
SYSTEM_LOGGER_PREFIXES = ("proxy_worker", "azure.functions")


@dataclass(frozen=True)
class HostLog:
    """One record as the worker forwarded it to the host, and whether the host kept it."""

    level: int
    message: str
    logger_name: str
    category: str
    invocation_id: str | None
    #: Where the worker found the id: ``task``, ``cv``, ``thread`` or ``None``.
    source: str | None
    thread_name: str
    kept: bool


@dataclass
class Invocation:
    """One invocation request sent, and its response."""

    function_name: str
    invocation_id: str
    response: Any = None


@dataclass(frozen=True)
class WorkerRequest:
    """What the proxy hands the library: a name, the message and (at init) the protos."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


class InvocationTask(asyncio.Task):  # type: ignore[type-arg]
    """A task that inherits the invocation id of the task that created it, as the worker's does."""

    def __init__(self, coro: Any, *, loop: Any = None, **kwargs: Any) -> None:
        super().__init__(coro, loop=loop, **kwargs)
        parent = asyncio.current_task(loop)
        invocation_id = getattr(parent, TASK_INVOCATION_ATTRIBUTE, None) if parent else None
        if invocation_id is not None:
            setattr(self, TASK_INVOCATION_ATTRIBUTE, invocation_id)


class _ForwardingHandler(logging.Handler):
    """The worker's root handler: every record goes to the host."""

    def __init__(self, host: WorkerHost) -> None:
        super().__init__()
        self._host = host
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self._host.forward(record, self.format(record))

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.errors += 1
        super().handleError(record)


@dataclass
class _LoadedFunction:
    function_id: str
    metadata: Any


@dataclass
class WorkerHost:
    """Runs one app in one runtime library: init, metadata, load, then invocations."""

    library_name: str
    app_dirs: list[Path]
    library: ModuleType = field(init=False)
    loop: asyncio.AbstractEventLoop = field(init=False)
    logs: list[HostLog] = field(default_factory=list)
    functions: dict[str, _LoadedFunction] = field(default_factory=dict)
    executing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.library = importlib.import_module(self.library_name)
        self.loop = asyncio.new_event_loop()
        self.loop.set_task_factory(
            lambda loop, coro, **kwargs: InvocationTask(coro, loop=loop, **kwargs)
        )
        self._lock = threading.Lock()
        self._handler = _ForwardingHandler(self)
        #: The loop thread's latest invocation, which the proxy consults last.
        self._thread_invocations: dict[int, str] = {}
        self._added_paths: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> WorkerHost:
        for directory in self.app_dirs:
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
                self._added_paths.append(str(directory))
        root = logging.getLogger()
        root.addHandler(self._handler)
        root.setLevel(logging.INFO)
        self.library.start_threadpool_executor()
        self.run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.library.stop_threadpool_executor()
        finally:
            logging.getLogger().removeHandler(self._handler)
            self.loop.close()
            for path in self._added_paths:
                sys.path.remove(path)

    @property
    def handler_errors(self) -> int:
        """How often the worker's root handler failed to forward a record."""
        return self._handler.errors

    @property
    def pool(self) -> Any:
        """The runtime's own thread pool, on which it runs sync functions."""
        return self.library.get_threadpool_executor()

    def loaded(self, function_name: str) -> Any:
        """The runtime's record of a loaded function (``is_async`` says loop or pool)."""
        registry = self.library.handle_event._functions
        return registry.get_function(self.functions[function_name].function_id)

    def forget_logs(self) -> None:
        """Start a fresh list of forwarded records (between tests sharing this host)."""
        with self._lock:
            self.logs.clear()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the worker's loop in this (the main) thread, like the proxy."""
        return self.loop.run_until_complete(coroutine)

    async def _start(self) -> None:
        app_dir = self.app_dirs[0]
        init = await self.library.worker_init_request(
            WorkerRequest(
                "WorkerInitRequest",
                protos.StreamingMessage(
                    worker_init_request=protos.WorkerInitRequest(
                        host_version="4.1000.0",
                        function_app_directory=str(app_dir),
                        worker_directory=str(app_dir),
                    )
                ),
                {"protos": protos, "host": "127.0.0.1"},
            )
        )
        _check(init.result, "worker init")
        metadata = await self.library.functions_metadata_request(
            WorkerRequest(
                "WorkerMetadataRequest",
                protos.StreamingMessage(
                    functions_metadata_request=protos.FunctionsMetadataRequest(
                        function_app_directory=str(app_dir)
                    )
                ),
            )
        )
        _check(metadata.result, "functions metadata")
        if metadata.use_default_metadata_indexing:
            found = [meta for directory in self.app_dirs for meta in _read_function_json(directory)]
        else:
            found = list(metadata.function_metadata_results)
        for meta in found:
            function_id = meta.function_id or str(uuid.uuid4())
            loaded = await self.library.function_load_request(
                WorkerRequest(
                    "FunctionLoadRequest",
                    protos.StreamingMessage(
                        function_load_request=protos.FunctionLoadRequest(
                            function_id=function_id, metadata=meta
                        )
                    ),
                )
            )
            _check(loaded.result, f"load of {meta.name}")
            self.functions[meta.name] = _LoadedFunction(function_id, meta)

    # -- invocations -----------------------------------------------------------------------

    async def invoke(
        self,
        function_name: str,
        inputs: dict[str, protos.TypedData],
        trigger_metadata: dict[str, protos.TypedData] | None = None,
    ) -> Invocation:
        """Send one invocation request and await its response, as the proxy's task does."""
        loaded = self.functions[function_name]
        invocation = Invocation(function_name, str(uuid.uuid4()))
        trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        request = protos.StreamingMessage(
            invocation_request=protos.InvocationRequest(
                invocation_id=invocation.invocation_id,
                function_id=loaded.function_id,
                input_data=[
                    protos.ParameterBinding(name=name, data=data) for name, data in inputs.items()
                ],
                trigger_metadata=trigger_metadata or {},
                trace_context=protos.RpcTraceContext(trace_parent=f"00-{trace_id}-{span_id}-01"),
            )
        )
        task = asyncio.current_task()
        setattr(task, TASK_INVOCATION_ATTRIBUTE, invocation.invocation_id)
        self._thread_invocations[threading.get_ident()] = invocation.invocation_id
        with self._lock:
            self.executing.add(invocation.invocation_id)
        try:
            invocation.response = await self.library.invocation_request(
                WorkerRequest("FunctionInvocationRequest", request)
            )
        finally:
            with self._lock:
                self.executing.discard(invocation.invocation_id)
        return invocation

    def invoke_all(
        self, calls: Iterable[tuple[str, dict[str, Any], dict[str, Any] | None]]
    ) -> list[Invocation]:
        """Send all ``calls`` at once, each in its own task, and wait for every response."""

        async def together() -> list[Invocation]:
            return list(
                await asyncio.gather(
                    *(self.invoke(name, inputs, meta) for name, inputs, meta in calls)
                )
            )

        gathered: list[Invocation] = self.run(together())
        return gathered

    # -- the worker's log forwarding -------------------------------------------------------

    def current_invocation_id(self) -> tuple[str | None, str | None]:
        """The invocation the worker would attach to a record emitted here, and where from.

        The sources, in the worker's order: ``task`` (the task's attribute), ``cv`` (the
        library's ``invocation_id_cv``), ``thread`` (the loop thread's latest invocation).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = asyncio.current_task(loop)
            found = getattr(task, TASK_INVOCATION_ATTRIBUTE, None) if task else None
            if found is not None:
                return str(found), "task"
        value = self.library.invocation_id_cv.get()
        if value is not None:
            return str(value), "cv"
        latest = self._thread_invocations.get(threading.get_ident())
        return latest, "thread" if latest is not None else None

    def forward(self, record: logging.LogRecord, message: str) -> None:
        """What the worker does with every record: send it, tagged, to the host."""
        system = record.name.startswith(SYSTEM_LOGGER_PREFIXES)
        invocation_id, source = self.current_invocation_id()
        with self._lock:
            kept = not system and invocation_id in self.executing
            self.logs.append(
                HostLog(
                    level=record.levelno,
                    message=message,
                    logger_name=record.name,
                    category="System" if system else "User",
                    invocation_id=invocation_id,
                    source=source,
                    thread_name=threading.current_thread().name,
                    kept=kept,
                )
            )


def _check(result: Any, what: str) -> None:
    if result.status != protos.StatusResult.Success:
        raise AssertionError(f"{what} failed: {result.exception.message}")


_DIRECTIONS = {
    "in": protos.BindingInfo.in_,
    "out": protos.BindingInfo.out,
    "inout": protos.BindingInfo.inout,
}


def _read_function_json(app_dir: Path) -> list[Any]:
    """What the host reads for a ``function.json`` app: one metadata per function folder."""
    found = []
    for config_path in sorted(app_dir.glob("*/function.json")):
        config = json.loads(config_path.read_text(encoding="utf-8"))
        folder = config_path.parent
        bindings = {
            binding["name"]: protos.BindingInfo(
                type=binding["type"], direction=_DIRECTIONS[binding.get("direction", "in")]
            )
            for binding in config["bindings"]
        }
        found.append(
            protos.RpcFunctionMetadata(
                name=folder.name,
                directory=str(folder),
                script_file=str(folder / config.get("scriptFile", "__init__.py")),
                entry_point=config.get("entryPoint", ""),
                bindings=bindings,
                language="python",
            )
        )
    return found


def http_input(query: dict[str, str], method: str = "GET") -> protos.TypedData:
    """An HTTP trigger's request as the host sends it."""
    url = "http://127.0.0.1/api/f?" + "&".join(f"{key}={value}" for key, value in query.items())
    return protos.TypedData(
        http=protos.RpcHttp(method=method, url=url, headers={}, query=dict(query), params={})
    )


def queue_input(body: str, message_id: str) -> tuple[protos.TypedData, dict[str, protos.TypedData]]:
    """A queue message and the trigger metadata the host sends with it."""
    metadata = {
        "Id": protos.TypedData(string=message_id),
        "DequeueCount": protos.TypedData(json="1"),
        "PopReceipt": protos.TypedData(string="receipt"),
    }
    return protos.TypedData(string=body), metadata


def timer_input(past_due: bool = False) -> protos.TypedData:
    """A timer trigger's firing."""
    return protos.TypedData(json=json.dumps({"Schedule": {}, "IsPastDue": past_due}))
