"""The Functions RPC message types, written out as plain Python for driving the worker runtime.

The 3.13+ runtime libraries (``azure_functions_runtime``, ``azure_functions_runtime_v1``) build
and read every message through a ``protos`` object their caller hands them; no published package
provides one outside the worker itself. These classes carry the fields the runtimes read and
write, with protobuf's behaviour where the runtimes rely on it: an unset field reads as its
default (an empty message, ``""``, ``0``, ``{}``, ``[]``), ``None`` passed to a constructor
leaves a field unset, ``WhichOneof`` names the member of a oneof group that was set, and an
unknown field is an error, so a runtime that starts using a new field fails loudly here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

__all__ = [
    "BindingInfo",
    "FunctionEnvironmentReloadResponse",
    "FunctionLoadRequest",
    "FunctionLoadResponse",
    "FunctionMetadataResponse",
    "FunctionsMetadataRequest",
    "InvocationRequest",
    "InvocationResponse",
    "Message",
    "NullableBool",
    "NullableDouble",
    "NullableString",
    "NullableTimestamp",
    "ParameterBinding",
    "RetryContext",
    "RpcException",
    "RpcFunctionMetadata",
    "RpcHttp",
    "RpcHttpCookie",
    "RpcRetryOptions",
    "RpcTraceContext",
    "StatusResult",
    "StreamingMessage",
    "TypedData",
    "WorkerInitRequest",
    "WorkerInitResponse",
    "WorkerMetadata",
]


class Message:
    """A message: named fields with protobuf defaults, and oneof groups."""

    #: Field name -> factory of its default value.
    FIELDS: ClassVar[dict[str, Callable[[], Any]]] = {}
    #: Oneof group name -> the fields that belong to it.
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        self._set = {name for name, value in values.items() if value is not None}
        for name in self._set:
            setattr(self, name, values[name])

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field never set: make its default on first read, as protobuf
        # does (lazily, since messages may contain each other).
        default = type(self).FIELDS.get(name)
        if default is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        value = default()
        setattr(self, name, value)
        return value

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's spelling
        """The field of ``group`` that was set, or ``None``."""
        for name in self.ONEOFS[group]:
            if name in self._set:
                return name
        return None

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's spelling
        """Whether ``name`` was given a value."""
        return name in self._set

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self._set))
        return f"{type(self).__name__}({shown})"


def _fields(**defaults: Callable[[], Any]) -> dict[str, Callable[[], Any]]:
    return defaults


class RpcException(Message):
    """An exception the worker reports."""

    FIELDS = _fields(source=str, stack_trace=str, message=str, is_user_exception=bool)


class StatusResult(Message):
    """Success or failure of a request."""

    Failure = 0
    Success = 1
    Cancelled = 2
    FIELDS = _fields(status=int, result=str, exception=RpcException, logs=list)


class WorkerMetadata(Message):
    """What the worker says about itself."""

    FIELDS = _fields(
        runtime_name=str,
        runtime_version=str,
        worker_version=str,
        worker_bitness=str,
        custom_properties=dict,
    )


class NullableString(Message):
    """A string that may be absent."""

    FIELDS = _fields(value=str)


class NullableBool(Message):
    """A bool that may be absent."""

    FIELDS = _fields(value=bool)


class NullableDouble(Message):
    """A double that may be absent."""

    FIELDS = _fields(value=float)


class NullableTimestamp(Message):
    """A timestamp that may be absent."""

    FIELDS = _fields(value=lambda: None)


class RpcHttpCookie(Message):
    """A cookie of an HTTP response."""

    class SameSite:
        """The cookie's SameSite attribute."""

        # protobuf's enum member is called None; it is unreachable as an attribute in Python.
        Lax = 1
        Strict = 2
        ExplicitNone = 3

    FIELDS = _fields(
        name=str,
        value=str,
        domain=NullableString,
        path=NullableString,
        expires=NullableTimestamp,
        secure=NullableBool,
        http_only=NullableBool,
        same_site=int,
        max_age=NullableDouble,
    )


class TypedData(Message):
    """A value of one of the types bindings exchange."""

    FIELDS = _fields(
        string=str,
        json=str,
        bytes=bytes,
        stream=bytes,
        http=lambda: RpcHttp(),
        int=int,
        double=float,
        collection_bytes=list,
        collection_string=list,
        collection_double=list,
        collection_sint64=list,
        model_binding_data=dict,
        collection_model_binding_data=list,
    )
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"data": tuple(FIELDS)}


class RpcHttp(Message):
    """An HTTP request or response."""

    FIELDS = _fields(
        method=str,
        url=str,
        headers=dict,
        body=TypedData,
        params=dict,
        status_code=str,
        query=dict,
        enable_content_negotiation=bool,
        rawBody=TypedData,
        identities=list,
        cookies=list,
        nullable_headers=dict,
        nullable_params=dict,
        nullable_query=dict,
    )


class ParameterBinding(Message):
    """A named input or output value."""

    FIELDS = _fields(name=str, data=TypedData, rpc_shared_memory=dict)
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {"rpc_data": ("data", "rpc_shared_memory")}


class BindingInfo(Message):
    """One binding of a function: type, direction, data type."""

    # Direction.
    in_ = 0
    out = 1
    inout = 2
    # Data type.
    undefined = 0
    string = 1
    binary = 2
    stream = 3
    FIELDS = _fields(type=str, direction=int, data_type=int, properties=dict)


class RpcRetryOptions(Message):
    """A function's retry policy."""

    FIELDS = _fields(
        max_retry_count=int,
        delay_interval=lambda: None,
        minimum_interval=lambda: None,
        maximum_interval=lambda: None,
        retry_strategy=int,
    )


class RpcFunctionMetadata(Message):
    """A function as the host and the worker know it."""

    FIELDS = _fields(
        name=str,
        directory=str,
        script_file=str,
        entry_point=str,
        bindings=dict,
        is_proxy=bool,
        status=StatusResult,
        language=str,
        raw_bindings=list,
        function_id=str,
        managed_dependency_enabled=bool,
        retry_options=RpcRetryOptions,
        properties=dict,
    )


class RpcTraceContext(Message):
    """The host's W3C trace context for an invocation."""

    FIELDS = _fields(trace_parent=str, trace_state=str, attributes=dict)


class RetryContext(Message):
    """Which retry of a failed invocation this is."""

    FIELDS = _fields(retry_count=int, max_retry_count=int, exception=RpcException)


class WorkerInitRequest(Message):
    """Host -> worker: start."""

    FIELDS = _fields(
        host_version=str,
        capabilities=dict,
        log_categories=dict,
        worker_directory=str,
        function_app_directory=str,
    )


class WorkerInitResponse(Message):
    """Worker -> host: started, with capabilities."""

    FIELDS = _fields(
        worker_version=str, capabilities=dict, result=StatusResult, worker_metadata=WorkerMetadata
    )


class FunctionsMetadataRequest(Message):
    """Host -> worker: which functions does the app define?"""

    FIELDS = _fields(function_app_directory=str)


class FunctionMetadataResponse(Message):
    """Worker -> host: the functions it indexed, or "read function.json yourself"."""

    FIELDS = _fields(
        function_metadata_results=list, result=StatusResult, use_default_metadata_indexing=bool
    )


class FunctionLoadRequest(Message):
    """Host -> worker: load one function."""

    FIELDS = _fields(function_id=str, metadata=RpcFunctionMetadata, managed_dependency_enabled=bool)


class FunctionLoadResponse(Message):
    """Worker -> host: loaded (or why not)."""

    FIELDS = _fields(function_id=str, result=StatusResult, is_dependency_downloaded=bool)


class InvocationRequest(Message):
    """Host -> worker: run one invocation."""

    FIELDS = _fields(
        invocation_id=str,
        function_id=str,
        input_data=list,
        trigger_metadata=dict,
        trace_context=RpcTraceContext,
        retry_context=RetryContext,
    )


class InvocationResponse(Message):
    """Worker -> host: the invocation's outputs and result."""

    FIELDS = _fields(
        invocation_id=str, output_data=list, return_value=TypedData, result=StatusResult
    )


class FunctionEnvironmentReloadResponse(Message):
    """Worker -> host: specialised."""

    FIELDS = _fields(capabilities=dict, worker_metadata=WorkerMetadata, result=StatusResult)


class StreamingMessage(Message):
    """The envelope of every message on the host/worker stream."""

    FIELDS = _fields(
        request_id=str,
        worker_init_request=WorkerInitRequest,
        functions_metadata_request=FunctionsMetadataRequest,
        function_load_request=FunctionLoadRequest,
        invocation_request=InvocationRequest,
    )
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {
        "content": (
            "worker_init_request",
            "functions_metadata_request",
            "function_load_request",
            "invocation_request",
        )
    }
