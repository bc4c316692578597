"""What the function app's ``host.json`` says that matters to telemetry.

Two things: the ``functionTimeout`` (so a slow invocation is warned about before the host kills
it) and whether the host will forward user logs to Application Insights too (so the same record
would be stored twice).
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

__all__ = [
    "HostSettings",
    "find_host_json",
    "host_forwards_logs",
    "parse_timespan_s",
    "read_host_settings",
]

_CONSUMPTION_DEFAULT_S = 5 * 60.0
_DEDICATED_DEFAULT_S = 30 * 60.0


class HostSettings(NamedTuple):
    """The parts of ``host.json`` we use; ``path`` is ``None`` when no file was found."""

    path: str | None
    function_timeout_s: float | None
    timeout_source: str
    telemetry_mode: str
    function_log_level: str | None


def find_host_json(start: str | None = None) -> str | None:
    """The app's ``host.json``: in ``AzureWebJobsScriptRoot``, else ``start`` or the cwd upwards."""
    root = os.environ.get("AzureWebJobsScriptRoot")
    candidates = [root] if root else []
    directory = os.path.abspath(start or os.getcwd())
    for _ in range(4):
        candidates.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for folder in candidates:
        path = os.path.join(folder, "host.json")
        if os.path.isfile(path):
            return path
    return None


def parse_timespan_s(value: object) -> float | None:
    """``"00:05:00"`` or ``"1.00:00:00"`` -> seconds; ``"-1"``/``null`` (unlimited) -> ``None``."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)\s*", value)
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _function_log_level(document: dict[str, object]) -> str | None:
    logging_section = document.get("logging")
    if not isinstance(logging_section, dict):
        return None
    levels = logging_section.get("logLevel")
    if not isinstance(levels, dict):
        return None
    for key in ("Function", "default"):
        if key in levels and isinstance(levels[key], str):
            return str(levels[key])
    return None


def read_host_settings(path: str | None = None) -> HostSettings:
    """Read ``host.json`` (found with :func:`find_host_json` when ``path`` is not given).

    A missing or unreadable file gives the host's defaults where they are known.
    """
    path = path or find_host_json()
    document: dict[str, object] = {}
    if path:
        import json

        try:
            with open(path, encoding="utf-8-sig") as handle:
                loaded = json.load(handle)
            if isinstance(loaded, dict):
                document = loaded
        except (OSError, ValueError):
            document = {}
    timeout: float | None
    if "functionTimeout" in document:
        timeout = parse_timespan_s(document["functionTimeout"])
        source = "host.json" if timeout is not None else "unlimited"
    elif os.environ.get("WEBSITE_SKU") == "Dynamic":
        timeout, source = _CONSUMPTION_DEFAULT_S, "consumption_default"
    elif os.environ.get("WEBSITE_SITE_NAME"):
        timeout, source = _DEDICATED_DEFAULT_S, "dedicated_default"
    else:
        timeout, source = None, "unknown"
    mode = document.get("telemetryMode")
    return HostSettings(
        path=path,
        function_timeout_s=timeout,
        timeout_source=source,
        telemetry_mode=mode if isinstance(mode, str) else "ApplicationInsights",
        function_log_level=_function_log_level(document),
    )


def host_forwards_logs(settings: HostSettings) -> bool:
    """Whether the host will also store user logs in Application Insights (duplicates)."""
    if settings.telemetry_mode.lower() == "opentelemetry":
        return False
    level = (settings.function_log_level or "Information").lower()
    return level != "none"
