"""Mapping of ingested envelopes to rows of Application Insights' classic tables.

Envelopes are mapped the way the service maps them: tags become ``operation_Id``,
``cloud_RoleName``, ..., ``baseData.properties`` becomes ``customDimensions`` with every value
stringified, durations are parsed into milliseconds, ``itemCount`` reflects the sample rate, and
over-long values are cut at the service's limits. The mapping is pure:
:mod:`azfunc_telemetry.local.store` writes the rows it produces.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from azfunc_telemetry.ingestion.protocol import parse_envelope_time

__all__ = ["Row", "envelope_rows", "parse_duration_ms", "performance_bucket"]

_BASE_TYPE_TABLES = {
    "MessageData": ("traces", "trace"),
    "RequestData": ("requests", "request"),
    "RemoteDependencyData": ("dependencies", "dependency"),
    "ExceptionData": ("exceptions", "exception"),
    "MetricData": ("customMetrics", "customMetric"),
    "EventData": ("customEvents", "customEvent"),
}
_DURATION = re.compile(r"^(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$")
_FRAME = re.compile(r'File "([^"]*)", line \d+, in (\S+)')
# Service limits (protocol.md 4.1); longer values are cut as the service cuts them.
_MAX_NAME = 1024
_MAX_MESSAGE = 32768
_MAX_DATA = 8192
_MAX_URL = 2048
_MAX_PROPERTY_KEY = 150
_MAX_PROPERTY_VALUE = 8192

# The service's request/dependency duration buckets: (upper bound in ms, label).
_PERFORMANCE_BUCKETS = (
    (250.0, "<250ms"),
    (500.0, "250ms-500ms"),
    (1000.0, "500ms-1sec"),
    (3000.0, "1sec-3sec"),
    (7000.0, "3sec-7sec"),
    (15000.0, "7sec-15sec"),
    (30000.0, "15sec-30sec"),
    (60000.0, "30sec-1min"),
    (120000.0, "1min-2min"),
    (300000.0, "2min-5min"),
)
# Context columns copied from envelope tags.
_CONTEXT_TAGS = (
    ("user_Id", "ai.user.id"),
    ("user_AuthenticatedId", "ai.user.authUserId"),
    ("user_AccountId", "ai.user.accountId"),
    ("application_Version", "ai.application.ver"),
    ("client_Model", "ai.device.model"),
    ("client_OS", "ai.device.osVersion"),
    ("session_Id", "ai.session.id"),
    ("operation_SyntheticSource", "ai.operation.syntheticSource"),
)

Row = dict[str, Any]
"""One table row: column name to the value stored in SQLite."""


def parse_duration_ms(value: object) -> float | None:
    """Parse an envelope duration (``d.hh:mm:ss.fff`` or ``hh:mm:ss.ffffff``) into milliseconds.

    Numbers are taken as milliseconds already. Returns None for anything unparseable.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if match is None:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    whole_s = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    total_s = whole_s + (float(f"0.{fraction}") if fraction else 0.0)
    return round(total_s * 1000.0, 6)


def performance_bucket(duration_ms: float | None) -> str | None:
    """The service's ``performanceBucket`` label for a duration, such as ``<250ms``."""
    if duration_ms is None:
        return None
    for upper, label in _PERFORMANCE_BUCKETS:
        if duration_ms < upper:
            return label
    return ">=5min"


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    return (value if isinstance(value, str) else str(value))[:limit]


def _stringify(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _dimensions(properties: object) -> str:
    if not isinstance(properties, Mapping):
        return "{}"
    return json.dumps(
        {
            str(key)[:_MAX_PROPERTY_KEY]: _stringify(value)[:_MAX_PROPERTY_VALUE]
            for key, value in properties.items()
            if value is not None
        }
    )


def _measurements(measurements: object) -> str:
    if not isinstance(measurements, Mapping):
        return "{}"
    numbers: dict[str, float] = {}
    for key, value in measurements.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers[str(key)[:_MAX_PROPERTY_KEY]] = float(value)
    return json.dumps(numbers)


def _success(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        return 1 if value.strip().lower() == "true" else 0
    return 1 if value else 0


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int(value: object) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _traces(base: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "message": _text(base.get("message"), _MAX_MESSAGE),
            "severityLevel": _int(base.get("severityLevel")),
        }
    ]


def _requests(base: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "id": _text(base.get("id"), 128),
            "name": _text(base.get("name"), _MAX_NAME),
            "url": _text(base.get("url"), _MAX_URL),
            "source": _text(base.get("source"), _MAX_NAME),
            "resultCode": _text(base.get("responseCode"), _MAX_NAME),
            "success": _success(base.get("success")),
            "duration": parse_duration_ms(base.get("duration")),
            "performanceBucket": performance_bucket(parse_duration_ms(base.get("duration"))),
        }
    ]


def _dependencies(base: Mapping[str, Any]) -> list[Row]:
    return [
        {
            "id": _text(base.get("id"), 128),
            "name": _text(base.get("name"), _MAX_NAME),
            "data": _text(base.get("data"), _MAX_DATA),
            "target": _text(base.get("target"), _MAX_NAME),
            "type": _text(base.get("type"), _MAX_NAME),
            "resultCode": _text(base.get("resultCode"), _MAX_NAME),
            "success": _success(base.get("success")),
            "duration": parse_duration_ms(base.get("duration")),
            "performanceBucket": performance_bucket(parse_duration_ms(base.get("duration"))),
        }
    ]


def _raise_site(detail: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Method and file of the frame that raised (Python lists it last)."""
    frames = detail.get("parsedStack")
    if isinstance(frames, list) and frames and isinstance(frames[-1], Mapping):
        frame = frames[-1]
        assembly = frame.get("assembly") or frame.get("fileName")
        return _text(frame.get("method"), _MAX_NAME), _text(assembly, _MAX_NAME)
    stack = detail.get("stack")
    if isinstance(stack, str):
        found = _FRAME.findall(stack)
        if found:
            file_name, method = found[-1]
            return method, file_name
    return None, None


def _exceptions(base: Mapping[str, Any]) -> list[Row]:
    raw = base.get("exceptions")
    details = (
        [detail for detail in raw if isinstance(detail, Mapping)] if isinstance(raw, list) else []
    )
    outer: Mapping[str, Any] = details[0] if details else {}
    innermost: Mapping[str, Any] = details[-1] if details else {}
    method, assembly = _raise_site(innermost)
    outer_method, outer_assembly = _raise_site(outer)
    outer_type = _text(outer.get("typeName"), _MAX_NAME)
    problem_id = base.get("problemId")
    if not problem_id and outer_type:
        problem_id = f"{outer_type} at {method}" if method else outer_type
    return [
        {
            "type": outer_type,
            "outerType": outer_type,
            "message": _text(outer.get("message"), _MAX_MESSAGE),
            "outerMessage": _text(outer.get("message"), _MAX_MESSAGE),
            "innermostType": _text(innermost.get("typeName"), _MAX_NAME),
            "innermostMessage": _text(innermost.get("message"), _MAX_MESSAGE),
            "method": method,
            "assembly": assembly,
            "details": json.dumps(details, default=str),
            "severityLevel": _int(base.get("severityLevel")),
            "problemId": _text(problem_id, _MAX_NAME),
            "outerMethod": outer_method,
            "outerAssembly": outer_assembly,
            "innermostMethod": method,
            "innermostAssembly": assembly,
        }
    ]


def _custom_metrics(base: Mapping[str, Any]) -> list[Row]:
    rows = []
    for metric in base.get("metrics") or []:
        if not isinstance(metric, Mapping):
            continue
        value = _number(metric.get("value")) or 0.0
        minimum, maximum = _number(metric.get("min")), _number(metric.get("max"))
        rows.append(
            {
                "name": _text(metric.get("name"), _MAX_NAME),
                "value": value,
                "valueCount": _int(metric.get("count")) or 1,
                "valueSum": value,
                "valueMin": value if minimum is None else minimum,
                "valueMax": value if maximum is None else maximum,
                "valueStdDev": _number(metric.get("stdDev")) or 0.0,
            }
        )
    return rows


def _custom_events(base: Mapping[str, Any]) -> list[Row]:
    return [{"name": _text(base.get("name"), _MAX_NAME)}]


_ROW_BUILDERS: dict[str, Callable[[Mapping[str, Any]], list[Row]]] = {
    "traces": _traces,
    "requests": _requests,
    "dependencies": _dependencies,
    "exceptions": _exceptions,
    "customMetrics": _custom_metrics,
    "customEvents": _custom_events,
}


def _item_count(sample_rate: object) -> int:
    rate = _number(sample_rate)
    if rate is None or rate <= 0 or rate >= 100:
        return 1
    return max(1, round(100.0 / rate))


def envelope_rows(envelope: Mapping[str, Any]) -> tuple[str, list[Row]] | None:
    """Map one envelope to its table and rows, or None when it cannot be stored.

    A metric envelope yields one row per entry of ``baseData.metrics``; every other base type
    yields one row. Each row gets a fresh ``itemId``, as the service assigns one per item.

    Returns:
        ``(table, rows)``, or None for an unknown ``baseType`` or an unparseable ``time``.
    """
    data = envelope.get("data")
    if not isinstance(data, Mapping) or data.get("baseType") not in _BASE_TYPE_TABLES:
        return None
    table, item_type = _BASE_TYPE_TABLES[data["baseType"]]
    try:
        timestamp = parse_envelope_time(str(envelope.get("time", "")))
    except ValueError:
        return None
    base = data.get("baseData")
    base = base if isinstance(base, Mapping) else {}
    tags = envelope.get("tags")
    tags = tags if isinstance(tags, Mapping) else {}
    common: Row = {
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "itemType": item_type,
        "itemCount": _item_count(envelope.get("sampleRate")),
        "iKey": _text(envelope.get("iKey"), 40),
        "operation_Id": _text(tags.get("ai.operation.id"), 128),
        "operation_ParentId": _text(tags.get("ai.operation.parentId"), 128),
        "operation_Name": _text(tags.get("ai.operation.name"), _MAX_NAME),
        "cloud_RoleName": _text(tags.get("ai.cloud.role"), _MAX_NAME),
        "cloud_RoleInstance": _text(tags.get("ai.cloud.roleInstance"), _MAX_NAME),
        "sdkVersion": _text(tags.get("ai.internal.sdkVersion"), 64),
        "customDimensions": _dimensions(base.get("properties")),
        "customMeasurements": _measurements(base.get("measurements")),
        # Server telemetry is "PC" to the service, and it masks the client address.
        "client_Type": "Browser" if tags.get("ai.device.type") == "Browser" else "PC",
        "client_IP": "0.0.0.0",
    }
    for column, tag in _CONTEXT_TAGS:
        common[column] = _text(tags.get(tag), _MAX_NAME)
    rows = [
        {**common, "itemId": str(uuid.uuid4()), **specific}
        for specific in _ROW_BUILDERS[table](base)
    ]
    return table, rows
