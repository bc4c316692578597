"""What the function app's ``host.json`` says that matters to telemetry.

Three things: the ``functionTimeout`` (so a slow invocation is warned about before the host kills
it), whether the host will forward user logs to Application Insights too (so the same record
would be stored twice), and whether the host writes its own ``requests`` row per invocation
(category ``Host.Results``), which decides how the library reports invocations.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "HOST_RESULTS_OVERRIDE",
    "HostSettings",
    "decide_invocation_telemetry",
    "find_host_json",
    "host_forwards_logs",
    "host_writes_requests",
    "parse_timespan_s",
    "read_host_settings",
]

#: The app setting that overrides host.json's ``logging.logLevel."Host.Results"``.
HOST_RESULTS_OVERRIDE = "AzureFunctionsJobHost__logging__logLevel__Host.Results"
_LOG_LEVEL_OVERRIDE_PREFIX = "azurefunctionsjobhost__logging__loglevel__"
_CONSUMPTION_DEFAULT_S = 5 * 60.0
_DEDICATED_DEFAULT_S = 30 * 60.0


class HostSettings(NamedTuple):
    """The parts of ``host.json`` we use; ``path`` is ``None`` when no file was found."""

    path: str | None
    function_timeout_s: float | None
    timeout_source: str
    telemetry_mode: str
    function_log_level: str | None
    #: ``logging.logLevel`` from host.json, category -> level (empty when not set).
    log_levels: tuple[tuple[str, str], ...] = ()


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


def _log_levels(document: dict[str, object]) -> tuple[tuple[str, str], ...]:
    logging_section = document.get("logging")
    levels = logging_section.get("logLevel") if isinstance(logging_section, dict) else None
    if not isinstance(levels, dict):
        return ()
    return tuple((str(key), value) for key, value in levels.items() if isinstance(value, str))


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
        log_levels=_log_levels(document),
    )


def host_forwards_logs(settings: HostSettings) -> bool:
    """Whether the host will also store user logs in Application Insights (duplicates)."""
    if settings.telemetry_mode.lower() == "opentelemetry":
        return False
    level = (settings.function_log_level or "Information").lower()
    return level != "none"


def _category_level(
    settings: HostSettings, category: str, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The level the host applies to ``category`` and where it was set.

    As the host's logging configuration does: app settings
    (``AzureFunctionsJobHost__logging__logLevel__<category>``) override host.json entry by
    entry, names match case-insensitively, and the longest matching category prefix wins, then
    ``default``.
    """
    levels: dict[str, tuple[str, str]] = {}
    for key, value in settings.log_levels:
        levels[key.lower()] = (value, "host.json")
    for name, value in environ.items():
        lowered = name.lower()
        if lowered.startswith(_LOG_LEVEL_OVERRIDE_PREFIX):
            key = lowered[len(_LOG_LEVEL_OVERRIDE_PREFIX) :]
            levels[key] = (value, name)
    wanted = category.lower()
    matching = [key for key in levels if wanted == key or wanted.startswith(key + ".")]
    best = max(matching, key=len) if matching else None
    if best is None and "default" in levels:
        best = "default"
    if best is None:
        return None, "the host's default"
    value, source = levels[best]
    return value, source


def host_writes_requests(
    settings: HostSettings, environ: Mapping[str, str] | None = None
) -> tuple[bool, str]:
    """Whether the host writes a ``requests`` row per invocation, and why we think so.

    It does unless the level of its ``Host.Results`` category is ``None`` (in host.json or
    through :data:`HOST_RESULTS_OVERRIDE`).
    """
    level, source = _category_level(
        settings, "Host.Results", os.environ if environ is None else environ
    )
    if level is not None and level.strip().lower() == "none":
        return False, f'"Host.Results" is "None" in {source}'
    return True, f'"Host.Results" logs at {level or "Information"} ({source})'


def decide_invocation_telemetry(
    choice: str, settings: HostSettings | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """``request`` or ``dependency`` for a configured ``auto``/``request``/``dependency``.

    ``auto`` picks ``dependency`` (a child of the host's request) where the host writes
    requests, ``request`` where it does not. Returns the choice and the reason, for the log.
    """
    if choice in ("request", "dependency"):
        return choice, "set explicitly"
    writes, reason = host_writes_requests(settings or read_host_settings(), environ)
    return ("dependency" if writes else "request"), reason
