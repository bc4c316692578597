"""Settings: explicit argument > app setting (environment variable) > default.

Every setting is resolved once, at :func:`azfunc_telemetry.setup`. A bad value never raises unless
the caller asked for ``strict=True``: it is reported once, naming the setting, and the default is
used, because a telemetry library must never be the reason a function app does not start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from .connection import ConnectionInfo, parse_connection_string

__all__ = [
    "ENV_CONNECTION_STRING",
    "ENV_DISABLED",
    "ENV_INSTRUMENTATION_KEY",
    "INVOCATION_TELEMETRY_CHOICES",
    "ConfigProblem",
    "InvocationTelemetry",
    "TelemetryConfig",
    "default_storage_path",
    "resolve_config",
    "setting_name",
]

ENV_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
ENV_INSTRUMENTATION_KEY = "APPINSIGHTS_INSTRUMENTATIONKEY"
ENV_DISABLED = "AZFUNC_TELEMETRY_DISABLED"
_PREFIX = "AZFUNC_TELEMETRY_"


class ConfigProblem(NamedTuple):
    """One configuration fault, phrased for the person reading the function's log."""

    setting: str
    message: str
    #: ``"missing"`` disables export; ``"invalid"`` falls back to a default.
    kind: str = "invalid"


class TelemetryConfig(NamedTuple):
    """The resolved configuration. Units are in the names (``_s`` seconds, ``_bytes`` bytes)."""

    connection: ConnectionInfo | None
    connection_source: str = "none"
    enabled: bool = True
    queue_size: int = 8192
    batch_size: int = 512
    export_interval_s: float = 1.0
    request_timeout_s: float = 5.0
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    storage_enabled: bool = True
    storage_path: str = ""
    storage_max_bytes: int = 50 * 1024 * 1024
    storage_retention_s: float = 48 * 3600.0
    storage_retry_interval_s: float = 15.0
    exit_timeout_s: float = 2.0
    metrics_interval_s: float = 60.0
    timeout_warning_ratio: float = 0.8
    gzip: bool = True
    cloud_role: str = ""
    cloud_role_instance: str = ""
    scrub_patterns: tuple[str, ...] = ()
    #: ``auto``, ``request`` or ``dependency``: how each invocation is reported (see
    #: :func:`azfunc_telemetry.hostjson.decide_invocation_telemetry`).
    invocation_telemetry: str = "auto"
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def export_enabled(self) -> bool:
        """Whether telemetry leaves the process (a valid destination and not disabled)."""
        return self.enabled and self.connection is not None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError(f"expected a positive whole number, got {raw!r}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _ratio(raw: str) -> float:
    value = float(raw.strip())
    if not 0.0 <= value < 1.0:
        raise ValueError(f"expected a number from 0 (off) to below 1, got {raw!r}")
    return value


InvocationTelemetry = Literal["auto", "request", "dependency"]
"""How each invocation is reported: decided by the host's config, a request, or a dependency."""
INVOCATION_TELEMETRY_CHOICES: tuple[InvocationTelemetry, ...] = ("auto", "request", "dependency")


def _invocation_telemetry(raw: str) -> str:
    value = raw.strip().lower()
    if value not in INVOCATION_TELEMETRY_CHOICES:
        raise ValueError(f"expected one of {', '.join(INVOCATION_TELEMETRY_CHOICES)}, got {raw!r}")
    return value


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "enabled": _parse_bool,
    "queue_size": _positive_int,
    "batch_size": _positive_int,
    "export_interval_s": _positive_float,
    "request_timeout_s": _positive_float,
    "max_attempts": _positive_int,
    "backoff_base_s": _positive_float,
    "backoff_max_s": _positive_float,
    "storage_enabled": _parse_bool,
    "storage_path": str,
    "storage_max_bytes": _positive_int,
    "storage_retention_s": _positive_float,
    "storage_retry_interval_s": _positive_float,
    "exit_timeout_s": _positive_float,
    "metrics_interval_s": _positive_float,
    "timeout_warning_ratio": _ratio,
    "gzip": _parse_bool,
    "cloud_role": str,
    "cloud_role_instance": str,
    "invocation_telemetry": _invocation_telemetry,
}


def setting_name(option: str) -> str:
    """The app setting for ``option``: ``queue_size`` -> ``AZFUNC_TELEMETRY_QUEUE_SIZE``."""
    return _PREFIX + option.upper()


def _default_role_instance(environ: Mapping[str, str]) -> str:
    return (
        environ.get("WEBSITE_INSTANCE_ID")
        or environ.get("COMPUTERNAME")
        or environ.get("HOSTNAME")
        or os.uname().nodename
    )


def _resolve_connection(
    explicit: str | None, environ: Mapping[str, str], problems: list[ConfigProblem]
) -> tuple[ConnectionInfo | None, str]:
    if explicit is not None:
        candidates = [("connection_string argument", explicit)]
    else:
        candidates = []
        if environ.get(ENV_CONNECTION_STRING, "").strip():
            candidates.append((ENV_CONNECTION_STRING, environ[ENV_CONNECTION_STRING]))
        if environ.get(ENV_INSTRUMENTATION_KEY, "").strip():
            key = environ[ENV_INSTRUMENTATION_KEY].strip()
            candidates.append((ENV_INSTRUMENTATION_KEY, f"InstrumentationKey={key}"))
    if not candidates:
        problems.append(
            ConfigProblem(
                ENV_CONNECTION_STRING,
                f"{ENV_CONNECTION_STRING} is not set, so telemetry export is disabled; "
                "invocation tagging still works. Set it to the connection string of your "
                "Application Insights resource.",
                kind="missing",
            )
        )
        return None, "none"
    source, raw = candidates[0]
    try:
        info = parse_connection_string(raw)
    except ValueError as exc:
        problems.append(
            ConfigProblem(
                source,
                f"{source} is malformed ({exc}), so telemetry export is disabled; "
                "the function still runs. Copy the connection string from the Application "
                "Insights resource's Overview page.",
            )
        )
        return None, source
    if source == ENV_INSTRUMENTATION_KEY:
        problems.append(
            ConfigProblem(
                ENV_INSTRUMENTATION_KEY,
                f"only {ENV_INSTRUMENTATION_KEY} is set: instrumentation-key-only ingestion is "
                f"legacy (support ended 31 March 2025); set {ENV_CONNECTION_STRING} instead.",
                kind="legacy",
            )
        )
    return info, source


def resolve_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> TelemetryConfig:
    """Build the configuration from explicit overrides, then app settings, then defaults.

    Args:
        overrides: keyword arguments given to :func:`azfunc_telemetry.setup`; ``None`` values
            count as not given. ``connection_string`` and ``scrub_patterns`` are accepted too.
        environ: the environment to read; ``os.environ`` by default.

    Raises:
        TypeError: for an unknown option name (a programming error, reported at once).
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = set(_CONVERTERS) | {"connection_string", "scrub_patterns"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"unknown telemetry option(s): {', '.join(unknown)}")
    problems: list[ConfigProblem] = []
    connection, source = _resolve_connection(given.get("connection_string"), env, problems)
    values: dict[str, Any] = {}
    for option, convert in _CONVERTERS.items():
        if option in given:
            values[option] = given[option]
            continue
        raw = env.get(setting_name(option))
        if raw is None:
            continue
        try:
            values[option] = convert(raw)
        except ValueError as exc:
            problems.append(
                ConfigProblem(
                    setting_name(option),
                    f"{setting_name(option)} is invalid: {exc}; the default is used.",
                )
            )
    if "invocation_telemetry" in given:
        _check_invocation_telemetry(values, problems)
    if ENV_DISABLED in env and "enabled" not in given:
        try:
            values["enabled"] = not _parse_bool(env[ENV_DISABLED])
        except ValueError as exc:
            problems.append(ConfigProblem(ENV_DISABLED, f"{ENV_DISABLED} is invalid: {exc}"))
    values.setdefault("cloud_role", env.get("WEBSITE_SITE_NAME") or _local_role_name())
    values.setdefault("cloud_role_instance", _default_role_instance(env))
    patterns = _check_patterns(given.get("scrub_patterns", ()), problems)
    return TelemetryConfig(
        connection=connection,
        connection_source=source,
        scrub_patterns=patterns,
        problems=tuple(problems),
        **values,
    )


def _check_invocation_telemetry(values: dict[str, Any], problems: list[ConfigProblem]) -> None:
    """Validate an explicit ``invocation_telemetry``; a bad one is reported and ``auto`` used."""
    given = values["invocation_telemetry"]
    try:
        if not isinstance(given, str):
            raise ValueError(f"expected a string, got {type(given).__name__}")
        values["invocation_telemetry"] = _invocation_telemetry(given)
    except ValueError as exc:
        del values["invocation_telemetry"]
        problems.append(
            ConfigProblem(
                "invocation_telemetry",
                f"invocation_telemetry argument is invalid: {exc}; auto is used.",
            )
        )


def _check_patterns(patterns: Sequence[str], problems: list[ConfigProblem]) -> tuple[str, ...]:
    valid = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(
                ConfigProblem("scrub_patterns", f"pattern {pattern!r} is invalid: {exc}")
            )
        else:
            valid.append(pattern)
    return tuple(valid)


def default_storage_path(config: TelemetryConfig) -> str:
    """Where undelivered telemetry waits: per user and instrumentation key, under the temp dir.

    Resolved on the export thread when first needed (``tempfile`` is not a cheap import).
    """
    if config.storage_path:
        return config.storage_path
    import tempfile

    key = config.connection.instrumentation_key if config.connection else "none"
    return os.path.join(tempfile.gettempdir(), f"azfunc-telemetry-{_user_tag()}", key)


def _local_role_name() -> str:
    """A stable role name off Azure: the function app folder's name."""
    root = os.environ.get("AzureWebJobsScriptRoot") or os.getcwd()
    return os.path.basename(os.path.abspath(root)) or "local-function-app"


def _user_tag() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else os.environ.get("USERNAME", "user")
