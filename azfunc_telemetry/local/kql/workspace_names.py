"""Workspace-based Application Insights names and the classic names this engine uses.

Queries copied from a Log Analytics workspace use ``AppRequests``, ``TimeGenerated`` and
``DurationMs`` where the classic resource (and the local store) use ``requests``, ``timestamp``
and ``duration``; errors point to the classic name so the fix is one rename away.
"""

from __future__ import annotations

__all__ = ["CLASSIC_COLUMNS", "CLASSIC_TABLES"]

CLASSIC_TABLES: dict[str, str] = {
    "AppRequests": "requests",
    "AppDependencies": "dependencies",
    "AppTraces": "traces",
    "AppExceptions": "exceptions",
    "AppEvents": "customEvents",
    "AppMetrics": "customMetrics",
    "AppPageViews": "pageViews",
    "AppAvailabilityResults": "availabilityResults",
    "AppPerformanceCounters": "performanceCounters",
    "AppBrowserTimings": "browserTimings",
}

CLASSIC_COLUMNS: dict[str, str] = {
    "TimeGenerated": "timestamp",
    "DurationMs": "duration",
    "OperationId": "operation_Id",
    "ParentId": "operation_ParentId",
    "OperationName": "operation_Name",
    "AppRoleName": "cloud_RoleName",
    "AppRoleInstance": "cloud_RoleInstance",
    "SDKVersion": "sdkVersion",
    "Properties": "customDimensions",
    "Measurements": "customMeasurements",
    "ItemCount": "itemCount",
    "IKey": "iKey",
    "_ItemId": "itemId",
    "Type": "itemType",
    "ExceptionType": "type",
    "DependencyType": "type",
    "UserId": "user_Id",
    "SessionId": "session_Id",
    "ClientType": "client_Type",
    "PerformanceBucket": "performanceBucket",
}
