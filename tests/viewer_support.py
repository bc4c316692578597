"""What the viewer tests share: a store filled by the demo workload plus a hostile invocation,
the same store rewritten into the other invocation shape, and small HTTP helpers."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import urllib.error
import urllib.request
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func

import azfunc_telemetry
from azfunc_telemetry.local import demo
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.testing import FakeContext, LocalDispatcher

HOSTILE_MESSAGE = (
    'order note: <img src=x onerror="window.__pwned = 1"> '
    "<script>window.__pwned = 2</script> & \"quotes\" 'too'"
)
"""A log message that would run script if a page ever parsed it as markup."""

HOSTILE_DIMENSION = '<svg onload="window.__pwned = 3"></svg>'
"""An ``extra=`` value (a custom dimension) that would run script if parsed as markup."""

_log = logging.getLogger("viewer_tests")


@azfunc_telemetry.instrument
def hostile(req: func.HttpRequest) -> func.HttpResponse:
    """Logs what an attacker put in a request, as real apps do."""
    _log.warning(HOSTILE_MESSAGE, extra={"note": HOSTILE_DIMENSION})
    return func.HttpResponse("noted")


@dataclass(frozen=True)
class ViewerStore:
    """A store the viewer tests read, and what was written to it."""

    path: Path
    workload: demo.WorkloadResult
    hostile_id: str

    def expected_ids(self) -> set[str]:
        """Every invocation the store must list."""
        return {record.invocation_id for record in self.workload.invocations} | {self.hostile_id}


def run_invocation(store_path: Path, function: Any, name: str, **bindings: Any) -> str:
    """Run one instrumented function worker-style, its telemetry going to the store."""
    with TelemetrySink(store_path, port=0) as sink:
        azfunc_telemetry.setup(
            connection_string=sink.connection_string,
            enabled=True,
            export_interval_s=0.2,
            storage_enabled=False,
        )
        try:
            context = FakeContext(name)
            with LocalDispatcher(max_workers=2) as dispatcher:
                dispatcher.invoke(function, context, **bindings).result(30)
            assert azfunc_telemetry.flush(15.0), "telemetry did not reach the sink"
        finally:
            azfunc_telemetry.shutdown(2.0)
    return str(context.invocation_id)


def hostile_request() -> func.HttpRequest:
    """The request the hostile invocation handles."""
    return func.HttpRequest("GET", "http://localhost:7071/api/Hostile", body=b"")


def build_store(directory: Path) -> ViewerStore:
    """The demo workload's telemetry plus one invocation that logs a hostile message."""
    path = directory / "viewer.db"
    workload = demo.run_workload(path)
    assert workload.delivered, "the demo's telemetry did not all arrive"
    hostile_id = run_invocation(path, hostile, "Hostile", req=hostile_request())
    return ViewerStore(path, workload, hostile_id)


_OURS = "json_extract(customDimensions, '$.execution_mode') IS NOT NULL"
_COMMON = (
    "timestamp, itemType, itemId, itemCount, iKey, operation_Id, operation_ParentId, "
    "operation_Name, cloud_RoleName, cloud_RoleInstance, sdkVersion, customDimensions, "
    "customMeasurements"
)


def holds_request_shape(path: Path) -> bool:
    """Whether the library's invocation items are ``requests`` rows in this store."""
    with closing(sqlite3.connect(path)) as connection:
        (count,) = connection.execute(f"SELECT count(*) FROM requests WHERE {_OURS}").fetchone()
    return bool(count)


def _to_dependency_shape(connection: sqlite3.Connection) -> None:
    """Our request rows become InProc dependencies under a host request, as in Azure."""
    rows = connection.execute(
        f"SELECT rowid, operation_ParentId, customDimensions FROM requests WHERE {_OURS}"
    ).fetchall()
    for rowid, parent_id, dimensions in rows:
        host_id = uuid.uuid4().hex[:16]
        invocation_id = json.loads(dimensions)["invocation_id"]
        host_dimensions = json.dumps(
            {"InvocationId": invocation_id, "Category": "Host.Results", "LogLevel": "Information"}
        )
        connection.execute(
            f"INSERT INTO dependencies ({_COMMON}, id, name, data, target, type, resultCode, "
            f"success, duration) SELECT timestamp, 'dependency', itemId, itemCount, iKey, "
            "operation_Id, ?, operation_Name, cloud_RoleName, cloud_RoleInstance, sdkVersion, "
            "customDimensions, customMeasurements, id, name, NULL, NULL, 'InProc', resultCode, "
            "success, duration FROM requests WHERE rowid = ?",
            (host_id, rowid),
        )
        connection.execute(
            f"INSERT INTO requests ({_COMMON}, id, name, url, source, resultCode, success, "
            "duration) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', timestamp, '-0.001 seconds'), "
            "'request', ?, itemCount, iKey, operation_Id, ?, operation_Name, cloud_RoleName, "
            "cloud_RoleInstance, 'azurefunctions: 4', ?, '{}', ?, name, url, NULL, resultCode, "
            "success, duration + 2 FROM requests WHERE rowid = ?",
            (str(uuid.uuid4()), parent_id, host_dimensions, host_id, rowid),
        )
        connection.execute("DELETE FROM requests WHERE rowid = ?", (rowid,))


def _to_request_shape(connection: sqlite3.Connection) -> None:
    """Our InProc dependencies become requests rows again, and the host's rows go."""
    connection.execute(
        f"INSERT INTO requests ({_COMMON}, id, name, url, source, resultCode, success, duration) "
        f"SELECT timestamp, 'request', itemId, itemCount, iKey, operation_Id, NULL, "
        "operation_Name, cloud_RoleName, cloud_RoleInstance, sdkVersion, customDimensions, "
        "customMeasurements, id, name, NULL, NULL, resultCode, success, duration "
        f"FROM dependencies WHERE type = 'InProc' AND {_OURS}"
    )
    connection.execute(f"DELETE FROM dependencies WHERE type = 'InProc' AND {_OURS}")
    connection.execute(
        "DELETE FROM requests WHERE json_extract(customDimensions, '$.InvocationId') IS NOT NULL "
        f"AND NOT ({_OURS})"
    )


def copy_in_shape(source: Path, target: Path, shape: str) -> Path:
    """A copy of the store with the library's invocation items in ``shape``.

    ``request``: our ``requests`` rows, no host rows (the library before the host-shaped
    change, or with the host's request rows switched off). ``dependency``: the host's
    ``requests`` row (``InvocationId``) with our item beneath it as an ``InProc`` dependency.
    """
    with closing(sqlite3.connect(source)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, target)
    source_shape = "request" if holds_request_shape(source) else "dependency"
    with closing(sqlite3.connect(target)) as connection:
        if shape == "dependency" and source_shape == "request":
            _to_dependency_shape(connection)
        elif shape == "request" and source_shape == "dependency":
            _to_request_shape(connection)
        connection.commit()
    return target


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; the status, headers and body, whatever the status."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body (any status)."""
    return json.loads(get(url)[2])


def post(
    url: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` to ``url``; the status, headers and body, whatever the status."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def query(base_url: str, text: str) -> Any:
    """Run a KQL query through the viewer's API and return its JSON answer."""
    status, _headers, body = post(base_url + "api/query", json.dumps({"query": text}).encode())
    assert status == 200, body
    return json.loads(body)


def copy_as_two_processes(source: Path, target: Path, other_pid: str) -> Path:
    """A copy of the store where the demo's invocations of every other row ran in a second
    worker process (``ProcessId`` = ``other_pid``), whose threads have the same names."""
    with closing(sqlite3.connect(source)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, target)
    with closing(sqlite3.connect(target)) as connection:
        for table in ("requests", "dependencies"):
            connection.execute(
                f"UPDATE {table} SET customDimensions = json_set(customDimensions, "
                f"'$.ProcessId', ?) WHERE {_OURS} AND rowid % 2 = 0 AND "
                "json_extract(customDimensions, '$.function_name') != 'Hostile'",
                (other_pid,),
            )
        connection.commit()
    return target
