"""Settings: explicit argument > app setting (environment variable) > default.

Every setting is resolved once, at :func:`azfunc_telemetry.setup`. A bad value never raises unless
the caller asked for ``strict=True``: it is reported once, naming the setting, and the default is
used, because a telemetry library must never be the reason a function app does not start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .connection import ConnectionInfo, parse_connection_string, unquote
from .setting_kinds import (
    BOOL,
    INVOCATION_TELEMETRY,
    INVOCATION_TELEMETRY_CHOICES,
    NAMES,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    RATIO,
    TEXT,
    InvocationTelemetry,
    ValueKind,
    parse_bool,
)

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
    #: ``"missing"`` disables export; ``"invalid"`` falls back to a default; ``"legacy"`` and
    #: ``"notice"`` say what was understood (the value works).
    kind: str = "invalid"


class TelemetryConfig(NamedTuple):
    """The resolved configuration. Units are in the names (``_s`` seconds, ``_bytes`` bytes)."""

    connection: ConnectionInfo | None
    connection_source: str = "none"
    enabled: bool = True
    queue_size: int = 180_000
    batch_size: int = 512
    export_interval_s: float = 0.02
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
    #: :func:`azfunc_telemetry.invocation.hostjson.decide_invocation_telemetry`).
    invocation_telemetry: str = "auto"
    #: Property names whose values are redacted whole, added to the built-in ones.
    sensitive_keys: tuple[str, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def export_enabled(self) -> bool:
        """Whether telemetry leaves the process (a valid destination and not disabled)."""
        return self.enabled and self.connection is not None


#: Every option read from an argument or an app setting, by kind.
_OPTIONS: dict[str, ValueKind] = {
    "enabled": BOOL,
    "queue_size": POSITIVE_INT,
    "batch_size": POSITIVE_INT,
    "export_interval_s": POSITIVE_FLOAT,
    "request_timeout_s": POSITIVE_FLOAT,
    "max_attempts": POSITIVE_INT,
    "backoff_base_s": POSITIVE_FLOAT,
    "backoff_max_s": POSITIVE_FLOAT,
    "storage_enabled": BOOL,
    "storage_path": TEXT,
    "storage_max_bytes": POSITIVE_INT,
    "storage_retention_s": POSITIVE_FLOAT,
    "storage_retry_interval_s": POSITIVE_FLOAT,
    "exit_timeout_s": POSITIVE_FLOAT,
    "metrics_interval_s": POSITIVE_FLOAT,
    "timeout_warning_ratio": RATIO,
    "gzip": BOOL,
    "cloud_role": TEXT,
    "cloud_role_instance": TEXT,
    "sensitive_keys": NAMES,
    "invocation_telemetry": INVOCATION_TELEMETRY,
}


def _shown(value: object) -> str:
    """A value as a message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    explicit: object, environ: Mapping[str, str], problems: list[ConfigProblem]
) -> tuple[ConnectionInfo | None, str]:
    if explicit is not None:
        if not isinstance(explicit, str):
            problems.append(
                ConfigProblem(
                    "connection_string",
                    f"setup() argument connection_string is invalid (a "
                    f"{type(explicit).__name__}, not text), so telemetry export is disabled; "
                    "the function still runs.",
                )
            )
            return None, "connection_string argument"
        candidates = [("connection_string argument", explicit)]
    else:
        candidates = []
        if environ.get(ENV_CONNECTION_STRING, "").strip():
            candidates.append((ENV_CONNECTION_STRING, environ[ENV_CONNECTION_STRING]))
        if environ.get(ENV_INSTRUMENTATION_KEY, "").strip():
            key = environ[ENV_INSTRUMENTATION_KEY].strip()
            # Quotes stay around the whole value, so that they are noticed and reported below.
            quotes = ("", "") if unquote(key) is None else (key[0], key[-1])
            key = unquote(key) or key
            candidates.append(
                (ENV_INSTRUMENTATION_KEY, f"{quotes[0]}InstrumentationKey={key}{quotes[1]}")
            )
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
    unquoted = unquote(raw)
    if unquoted is not None:
        raw = unquoted
        problems.append(
            ConfigProblem(
                source,
                f"{source} is wrapped in quotes (as copied from the portal); they were removed. "
                "Save the setting without them.",
                kind="notice",
            )
        )
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
    """Build the configuration from explicit arguments, then app settings, then defaults.

    Each value is checked the same way wherever it came from: a bad one is reported once,
    naming the argument (``setup(batch_size='10')``) or the app setting
    (``AZFUNC_TELEMETRY_BATCH_SIZE``) it came from, and the default is used instead.

    Args:
        overrides: keyword arguments given to :func:`azfunc_telemetry.setup`; ``None`` values
            count as not given. ``connection_string`` and ``scrub_patterns`` are accepted too.
        environ: the environment to read; ``os.environ`` by default.

    Raises:
        TypeError: for an unknown option name (a programming error, reported at once).
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = set(_OPTIONS) | {"connection_string", "scrub_patterns"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"unknown telemetry option(s): {', '.join(unknown)}")
    problems: list[ConfigProblem] = []
    connection, source = _resolve_connection(given.get("connection_string"), env, problems)
    values: dict[str, Any] = {}
    for option, kind in _OPTIONS.items():
        default = TelemetryConfig._field_defaults[option]
        fallback = (
            "the default is used" if default in ("", ()) else f"the default ({default}) is used"
        )
        if option in given:
            try:
                values[option] = kind.check(given[option])
            except ValueError as exc:
                problems.append(
                    ConfigProblem(
                        option,
                        f"setup() argument {option} is invalid ({_shown(given[option])}: {exc}); "
                        f"expected {kind.expected}; {fallback}.",
                    )
                )
            continue
        name = setting_name(option)
        raw = env.get(name)
        if raw is None:
            continue
        try:
            values[option] = kind.parse(raw)
        except ValueError as exc:
            problems.append(
                ConfigProblem(
                    name,
                    f"{name} is invalid ({_shown(raw)}: {exc}); expected {kind.expected}; "
                    f"{fallback}.",
                )
            )
    if ENV_DISABLED in env and "enabled" not in given:
        try:
            values["enabled"] = not parse_bool(env[ENV_DISABLED])
        except ValueError as exc:
            problems.append(
                ConfigProblem(
                    ENV_DISABLED,
                    f"{ENV_DISABLED} is invalid ({_shown(env[ENV_DISABLED])}: {exc}); expected "
                    "true or false; export stays on.",
                )
            )
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


def _check_patterns(patterns: object, problems: list[ConfigProblem]) -> tuple[str, ...]:
    if isinstance(patterns, str) or not isinstance(patterns, Iterable):
        problems.append(
            ConfigProblem(
                "scrub_patterns",
                f"setup() argument scrub_patterns is invalid ({_shown(patterns)}); expected a "
                "list of regular expressions; none are added.",
            )
        )
        return ()
    valid = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            problems.append(
                ConfigProblem("scrub_patterns", f"pattern {_shown(pattern)} is invalid: {exc}")
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
