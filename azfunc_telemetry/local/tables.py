"""The classic Application Insights tables and their columns, as the local tooling lays them out.

One definition serves the envelope mapping (:mod:`azfunc_telemetry.local.rows`) and the SQLite
schema (:mod:`azfunc_telemetry.local.store`) that the KQL engine reads, so queries written against
``traces``, ``requests``, ``dependencies``, ``exceptions``, ``customMetrics`` and ``customEvents``
see the columns and Kusto types they see in the portal.
"""

from __future__ import annotations

__all__ = ["COLUMN_TYPES", "TABLES"]

_COMMON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "datetime"),
    ("itemType", "string"),
    ("itemId", "string"),
    ("itemCount", "long"),
    ("iKey", "string"),
    ("operation_Id", "string"),
    ("operation_ParentId", "string"),
    ("operation_Name", "string"),
    ("cloud_RoleName", "string"),
    ("cloud_RoleInstance", "string"),
    ("sdkVersion", "string"),
    ("customDimensions", "dynamic"),
    ("customMeasurements", "dynamic"),
)

# Context columns every classic table has; appended after a table's own columns, the order a
# store created before they existed gets when it adds them.
_CONTEXT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user_Id", "string"),
    ("user_AuthenticatedId", "string"),
    ("user_AccountId", "string"),
    ("application_Version", "string"),
    ("client_Type", "string"),
    ("client_Model", "string"),
    ("client_OS", "string"),
    ("client_IP", "string"),
    ("client_City", "string"),
    ("client_StateOrProvince", "string"),
    ("client_CountryOrRegion", "string"),
    ("client_Browser", "string"),
    ("session_Id", "string"),
    ("operation_SyntheticSource", "string"),
    ("appId", "string"),
    ("appName", "string"),
)

_TABLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "traces": (("message", "string"), ("severityLevel", "int")),
    "requests": (
        ("id", "string"),
        ("name", "string"),
        ("url", "string"),
        ("source", "string"),
        ("resultCode", "string"),
        ("success", "bool"),
        ("duration", "real"),
        ("performanceBucket", "string"),
    ),
    "dependencies": (
        ("id", "string"),
        ("name", "string"),
        ("data", "string"),
        ("target", "string"),
        ("type", "string"),
        ("resultCode", "string"),
        ("success", "bool"),
        ("duration", "real"),
        ("performanceBucket", "string"),
    ),
    "exceptions": (
        ("type", "string"),
        ("outerType", "string"),
        ("message", "string"),
        ("outerMessage", "string"),
        ("innermostType", "string"),
        ("innermostMessage", "string"),
        ("method", "string"),
        ("assembly", "string"),
        ("details", "dynamic"),
        ("severityLevel", "int"),
        ("problemId", "string"),
        ("handledAt", "string"),
        ("outerMethod", "string"),
        ("outerAssembly", "string"),
        ("innermostMethod", "string"),
        ("innermostAssembly", "string"),
    ),
    "customMetrics": (
        ("name", "string"),
        ("value", "real"),
        ("valueCount", "long"),
        ("valueSum", "real"),
        ("valueMin", "real"),
        ("valueMax", "real"),
        ("valueStdDev", "real"),
    ),
    "customEvents": (("name", "string"),),
}

TABLES: tuple[str, ...] = tuple(_TABLE_COLUMNS)
"""The classic Application Insights tables the store keeps."""

COLUMN_TYPES: dict[str, dict[str, str]] = {
    table: dict(_COMMON_COLUMNS + columns + _CONTEXT_COLUMNS)
    for table, columns in _TABLE_COLUMNS.items()
}
"""Per table, column name to Kusto type (``datetime``, ``string``, ``long``, ``int``,
``real``, ``bool``, ``dynamic``), in column order."""
