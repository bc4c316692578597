"""Kusto's semantics on the real store: never-null strings, classic column types, type errors."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from azfunc_telemetry.local.kql import KqlError, run_query
from azfunc_telemetry.local.store import TelemetryStore


def _request(name: str, success: bool, duration: str, **tags: str) -> dict[str, Any]:
    return {
        "iKey": "00000000-0000-0000-0000-000000000001",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tags": {"ai.operation.id": f"op-{name}", **tags},
        "data": {
            "baseType": "RequestData",
            "baseData": {"id": name, "name": name, "duration": duration, "success": success,
                         "responseCode": "200" if success else "500"},
        },
    }  # fmt: skip


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[TelemetryStore]:
    """Three requests, one failed, one without a cloud role and one with a user."""
    with TelemetryStore(tmp_path / "t.db") as opened:
        opened.insert(
            [
                _request("ok", True, "00:00:00.100", **{"ai.cloud.role": "app"}),
                _request("slow", True, "00:00:02.000", **{"ai.user.id": "u-1"}),
                _request("bad", False, "00:00:00.300", **{"ai.cloud.role": "app"}),
            ]
        )
        yield opened


def names(query: str, store: TelemetryStore) -> list[str]:
    """The ``name`` column of ``query``'s result, sorted."""
    return sorted(row["name"] for row in run_query(query, store).as_dicts())


def test_missing_string_reads_as_empty_never_null(store: TelemetryStore) -> None:
    """A string column the envelope did not fill is "" (isempty true, isnull false)."""
    result = run_query(
        "requests | where name == 'slow' | project cloud_RoleName, isnull(cloud_RoleName),"
        " isempty(cloud_RoleName)",
        store,
    )
    assert result.rows == [["", False, True]]
    assert names("requests | where cloud_RoleName == ''", store) == ["slow"]


def test_inequality_keeps_rows_whose_value_is_absent(store: TelemetryStore) -> None:
    """``!=`` is true against an empty or null value, as in Kusto."""
    assert names("requests | where cloud_RoleName != 'app'", store) == ["slow"]
    assert names("requests | where customDimensions.absent != 'x'", store) == ["bad", "ok", "slow"]
    assert names("requests | where customDimensions.absent == 'x'", store) == []


@pytest.mark.parametrize(
    "predicate",
    ['success == "False"', "success == false", "success != true", 'success == "false"',
     'success != "True"', "not(success)"],
)  # fmt: skip
def test_success_selects_failures_as_string_or_bool(store: TelemetryStore, predicate: str) -> None:
    """``success`` compares with "False" as with false, the way the classic table allows."""
    assert names(f"requests | where {predicate}", store) == ["bad"]


@pytest.mark.parametrize(
    ("query", "message", "token"),
    [
        ("requests | where name == 5", "cannot compare values of types string and long", "=="),
        ("requests | where duration > 'slow'", "types real and string", ">"),
        ("requests | where timestamp > 5", "types datetime and long", ">"),
        ("requests | extend x = resultCode == 500", "types string and long", "=="),
        ("requests | extend x = name + 1", "'\\+' cannot be applied to string and long", "+"),
        ("requests | where name", "bool predicate, got string", "name"),
        ("requests | summarize sum(name)", "sum\\(\\) cannot aggregate string", "sum"),
        ("requests | summarize avg(timestamp) by name", "avg\\(\\) cannot aggregate datetime",
         "avg"),
    ],
)  # fmt: skip
def test_type_errors_are_reported_at_their_operator(
    store: TelemetryStore, query: str, message: str, token: str
) -> None:
    """A type error Kusto rejects is reported at its operator, even on an empty table."""
    with pytest.raises(KqlError, match=message):
        run_query(query, EmptyRequests(store))
    with pytest.raises(KqlError, match=message) as raised:
        run_query(query, store)
    assert query[raised.value.position :].startswith(token)


class EmptyRequests:
    """The store's schema without any rows: Kusto's type errors do not depend on data."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store

    def columns(self, table: str) -> tuple[str, ...]:
        return self.store.columns(table)

    def column_types(self, table: str) -> dict[str, str]:
        return self.store.column_types(table)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return []


def test_dynamic_values_compare_with_anything(store: TelemetryStore) -> None:
    """A dynamic property may be compared with a number without an error (no row matches)."""
    assert run_query("requests | where customDimensions.count == 5", store).rows == []


def test_standard_columns_are_present_and_computed(store: TelemetryStore) -> None:
    """client_Type, performanceBucket, user_Id, session_Id, appName and itemCount exist."""
    result = run_query(
        "requests | project name, client_Type, performanceBucket, user_Id, session_Id, appName,"
        " itemCount | order by name asc",
        store,
    )
    assert result.rows == [
        ["bad", "PC", "250ms-500ms", "", "", "", 1],
        ["ok", "PC", "<250ms", "", "", "", 1],
        ["slow", "PC", "1sec-3sec", "u-1", "", "", 1],
    ]
