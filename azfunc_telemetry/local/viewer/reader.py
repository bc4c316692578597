"""What the viewer shows, read from the local store over a read-only SQLite connection.

An invocation reaches the store in one of two shapes. Where the library writes the invocation
itself, it is a ``requests`` row carrying the middleware's dimensions (``execution_mode``,
``thread_name``, ``pool_wait_ms``, ...). Where the Functions host writes the ``requests`` row
(category ``Host.Results``, ``customDimensions.InvocationId``), the library's item is a
``dependencies`` row of type ``InProc`` with the same dimensions, a child of the host's request.
:func:`load_invocations` reads both and lists each invocation once: the library's item when there is
one (it knows the thread and the pool), joined to the host's request by invocation id; the host's
row alone otherwise.

Each read opens a fresh read-only connection, so a store created after the viewer started, or
written by a sink in another process, is seen as it is now, and nothing here can change it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from typing import Any

from azfunc_telemetry.local.store import connect_read_only
from azfunc_telemetry.local.viewer.records import Invocation, InvocationDetail

__all__ = [
    "Invocation",
    "InvocationDetail",
    "StoreUnavailableError",
    "load_invocation_detail",
    "load_invocations",
    "store_version",
]

_OUR_DIMENSION = "$.execution_mode"
_HOST_INVOCATION_ID = "$.InvocationId"
_OUR_INVOCATION_ID = "$.invocation_id"
_INPROC = "InProc"
_SEVERITY_NAMES = {0: "DEBUG", 1: "INFO", 2: "WARNING", 3: "ERROR", 4: "CRITICAL"}
# Dimensions every log record carries; the others are the record's own ``extra=`` fields.
_STANDARD_LOG_DIMENSIONS = frozenset(
    (
        "invocation_id",
        "function_name",
        "level",
        "logger_name",
        "file_name",
        "line_number",
        "InvocationId",
        "Category",
        "LogLevel",
        "ProcessId",
        "log_message",
    )
)
_TABLES = ("traces", "requests", "dependencies", "exceptions", "customMetrics", "customEvents")


class StoreUnavailableError(Exception):
    """The store does not exist yet or cannot be read; the message says why."""


@contextmanager
def _reading(path: str) -> Iterator[sqlite3.Connection]:
    try:
        connection = connect_read_only(path)
    except sqlite3.Error as error:
        raise StoreUnavailableError(f"cannot open {path}: {error}") from error
    with closing(connection):
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        except sqlite3.Error as error:
            raise StoreUnavailableError(f"cannot read {path}: {error}") from error


def store_version(path: str) -> str:
    """A marker that changes whenever rows are added to the store (the tables' last row ids)."""
    with _reading(path) as connection:
        parts = []
        for table in _TABLES:
            (last,) = connection.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()
            parts.append(str(last or 0))
    return "-".join(parts)


def _epoch_ms(timestamp: str) -> float:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000.0


def _dimensions(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _flag(value: object) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() == "true"


def _number(value: object) -> float | None:
    try:
        return None if value is None or value == "" else float(str(value))
    except ValueError:
        return None


def _whole(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _ours(row: sqlite3.Row, shape: str, host: sqlite3.Row | None) -> Invocation:
    dims = _dimensions(row["customDimensions"])
    return Invocation(
        invocation_id=str(dims.get("invocation_id") or ""),
        function_name=str(dims.get("function_name") or row["name"] or ""),
        start_ms=_epoch_ms(row["timestamp"]),
        duration_ms=float(row["duration"] or 0.0),
        success=None if row["success"] is None else bool(row["success"]),
        result_code=row["resultCode"],
        operation_id=row["operation_Id"],
        shape=shape,
        cold_start=_flag(dims.get("cold_start")),
        execution_mode=dims.get("execution_mode"),
        thread_name=dims.get("thread_name"),
        pool_wait_ms=_number(dims.get("pool_wait_ms")),
        pool_saturated=_flag(dims.get("pool_saturated")),
        pool_size=_whole(dims.get("pool_size")),
        pool_queue_depth=_whole(dims.get("pool_queue_depth")),
        inflight_sync=_whole(dims.get("inflight_sync_at_start")),
        host_duration_ms=None if host is None else float(host["duration"] or 0.0),
        role_instance=row["cloud_RoleInstance"],
        process_id=None if dims.get("ProcessId") is None else str(dims["ProcessId"]),
    )


def _host_only(row: sqlite3.Row) -> Invocation:
    dims = _dimensions(row["customDimensions"])
    return Invocation(
        invocation_id=str(dims.get("InvocationId") or ""),
        function_name=str(row["name"] or ""),
        start_ms=_epoch_ms(row["timestamp"]),
        duration_ms=float(row["duration"] or 0.0),
        success=None if row["success"] is None else bool(row["success"]),
        result_code=row["resultCode"],
        operation_id=row["operation_Id"],
        shape="host",
        host_duration_ms=float(row["duration"] or 0.0),
        role_instance=row["cloud_RoleInstance"],
    )


_COLUMNS = (
    "timestamp, name, id, operation_Id, operation_ParentId, resultCode, success, duration, "
    "cloud_RoleInstance, customDimensions"
)


def _our_rows(
    connection: sqlite3.Connection, where: str, params: tuple[Any, ...], limit: int
) -> list[tuple[str, sqlite3.Row]]:
    """The library's invocation items of both shapes, newest first."""
    found: list[tuple[str, sqlite3.Row]] = []
    for table, shape, extra in (
        ("requests", "request", ""),
        ("dependencies", "dependency", f" AND type = '{_INPROC}'"),
    ):
        rows = connection.execute(
            f"SELECT {_COLUMNS} FROM {table} "
            f"WHERE json_extract(customDimensions, '{_OUR_DIMENSION}') IS NOT NULL{extra}{where} "
            "ORDER BY timestamp DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        found.extend((shape, row) for row in rows)
    return found


def _host_rows(
    connection: sqlite3.Connection, where: str, params: tuple[Any, ...], limit: int
) -> dict[str, sqlite3.Row]:
    """The host's request rows, by invocation id."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM requests "
        f"WHERE json_extract(customDimensions, '{_HOST_INVOCATION_ID}') IS NOT NULL "
        f"AND json_extract(customDimensions, '{_OUR_DIMENSION}') IS NULL{where} "
        "ORDER BY timestamp DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    by_id: dict[str, sqlite3.Row] = {}
    for row in rows:
        invocation_id = str(_dimensions(row["customDimensions"]).get("InvocationId") or "")
        if invocation_id:
            by_id.setdefault(invocation_id, row)
    return by_id


def _merge(ours: list[tuple[str, sqlite3.Row]], hosts: dict[str, sqlite3.Row]) -> list[Invocation]:
    invocations: dict[str, Invocation] = {}
    for shape, row in ours:
        invocation_id = str(_dimensions(row["customDimensions"]).get("invocation_id") or "")
        if not invocation_id or invocation_id in invocations:
            continue
        invocations[invocation_id] = _ours(row, shape, hosts.get(invocation_id))
    for invocation_id, row in hosts.items():
        if invocation_id not in invocations:
            invocations[invocation_id] = _host_only(row)
    return sorted(invocations.values(), key=lambda item: item.start_ms)


def load_invocations(path: str, *, limit: int = 2000) -> list[Invocation]:
    """The most recent invocations in the store (at most ``limit``), oldest first.

    Raises:
        StoreUnavailableError: The store does not exist or cannot be read.
    """
    with _reading(path) as connection:
        ours = _our_rows(connection, "", (), limit)
        hosts = _host_rows(connection, "", (), limit)
    newest = _merge(ours, hosts)
    return newest[-limit:]


def _by_invocation(alias: str = "") -> str:
    return (
        f" AND (json_extract({alias}customDimensions, '{_OUR_INVOCATION_ID}') = ? "
        f"OR json_extract({alias}customDimensions, '{_HOST_INVOCATION_ID}') = ?)"
    )


def _level(dims: Mapping[str, Any], severity: int | None) -> str:
    level = dims.get("level") or dims.get("LogLevel")
    if level:
        return str(level)
    return _SEVERITY_NAMES.get(severity if severity is not None else -1, "")


def load_invocation_detail(path: str, invocation_id: str) -> InvocationDetail | None:
    """The invocation ``invocation_id`` with its logs, spans, exceptions and dimensions.

    Returns:
        None when the store holds no such invocation.

    Raises:
        StoreUnavailableError: The store does not exist or cannot be read.
    """
    params = (invocation_id, invocation_id)
    with _reading(path) as connection:
        ours = _our_rows(connection, _by_invocation(), params, 5)
        hosts = _host_rows(connection, _by_invocation(), params, 5)
        merged = _merge(ours, hosts)
        if not merged:
            return None
        traces = connection.execute(
            "SELECT timestamp, message, severityLevel, customDimensions FROM traces "
            f"WHERE 1{_by_invocation()} ORDER BY timestamp, rowid",
            params,
        ).fetchall()
        spans = connection.execute(
            "SELECT timestamp, name, type, target, data, duration, success, resultCode, "
            "customDimensions FROM dependencies "
            f"WHERE NOT (type = '{_INPROC}' AND "
            f"json_extract(customDimensions, '{_OUR_DIMENSION}') IS NOT NULL)"
            f"{_by_invocation()} ORDER BY timestamp, rowid",
            params,
        ).fetchall()
        errors = connection.execute(
            "SELECT timestamp, type, outerMessage, details, severityLevel, customDimensions "
            f"FROM exceptions WHERE 1{_by_invocation()} ORDER BY timestamp, rowid",
            params,
        ).fetchall()
    invocation = merged[0]
    own = next((row for _, row in ours), None)
    host = hosts.get(invocation_id)
    logs = []
    for row in traces:
        dims = _dimensions(row["customDimensions"])
        logs.append(
            {
                "time": row["timestamp"],
                "level": _level(dims, row["severityLevel"]),
                "logger": dims.get("logger_name") or dims.get("Category") or "",
                "message": row["message"] or "",
                "fields": {
                    key: value for key, value in dims.items() if key not in _STANDARD_LOG_DIMENSIONS
                },
            }
        )
    dependencies = [
        {
            "time": row["timestamp"],
            "name": row["name"],
            "type": row["type"],
            "target": row["target"],
            "data": row["data"],
            "duration_ms": row["duration"],
            "success": None if row["success"] is None else bool(row["success"]),
            "result_code": row["resultCode"],
        }
        for row in spans
    ]
    exceptions = []
    for row in errors:
        try:
            details = json.loads(row["details"] or "[]")
        except ValueError:
            details = []
        exceptions.append(
            {
                "time": row["timestamp"],
                "type": row["type"],
                "message": row["outerMessage"],
                "level": _level(_dimensions(row["customDimensions"]), row["severityLevel"]),
                "details": details if isinstance(details, list) else [],
            }
        )
    item_row = own if own is not None else host
    return InvocationDetail(
        invocation=invocation,
        dimensions={} if item_row is None else _dimensions(item_row["customDimensions"]),
        host_dimensions=None if host is None else _dimensions(host["customDimensions"]),
        logs=logs,
        dependencies=dependencies,
        exceptions=exceptions,
    )
