"""Benchmark 3: what ``import azfunc_telemetry; azfunc_telemetry.setup()`` adds to a cold start.

Every measurement is a fresh interpreter. The child times its own import and setup with
``perf_counter_ns`` (interpreter start-up is the same for everyone and left out) and reports
its peak RSS (``ru_maxrss``) from an exit hook that runs after the library's own. The variants
run in turn, several rounds, and the medians are compared with a bare interpreter measured the
same way. Importing the
opencensus-ext-azure log and trace exporters is the comparison. One extra run with
``-X importtime`` lists the slowest imports, for diagnosis.
"""

from __future__ import annotations

import statistics

from .children import EmulatorProcess, app_env, run_child, scratch_storage
from .report import BenchmarkResult
from .settings import Settings

__all__ = ["VARIANTS", "run"]

_WALL_LIMIT_MS = 50.0
_RSS_LIMIT_MIB = 15.0

_HARNESS = """\
import atexit, time
def _report():
    import json, resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({{"wall_ms": _elapsed / 1e6, "maxrss_kib": usage.ru_maxrss}}), flush=True)
atexit.register(_report)  # registered first, so it runs after the library's exit hooks
_start = time.perf_counter_ns()
{body}
_elapsed = time.perf_counter_ns() - _start
"""

#: name -> (label, the code whose cost is measured)
VARIANTS: dict[str, tuple[str, str]] = {
    "bare": ("bare Python (nothing imported)", "pass"),
    "azfunc": (
        "import azfunc_telemetry; setup()",
        "import azfunc_telemetry\nazfunc_telemetry.setup()",
    ),
    "azfunc_first_invocation": (
        "... + first @instrument invocation logging one record",
        "import logging, types\n"
        "import azfunc_telemetry\n"
        "azfunc_telemetry.setup()\n"
        "@azfunc_telemetry.instrument\n"
        "def main(req, context):\n"
        "    logging.getLogger('app').warning('first invocation %s', 1, extra={'k': 'v'})\n"
        "main(None, types.SimpleNamespace(invocation_id='11111111-2222-3333-4444-555555555555',"
        " function_name='main', trace_context=None))",
    ),
    "opencensus": (
        "import opencensus-ext-azure log + trace exporters",
        "import opencensus.ext.azure.log_exporter\nimport opencensus.ext.azure.trace_exporter",
    ),
}


def _import_profile(env: dict[str, str]) -> list[dict[str, object]]:
    """The ten slowest imports (self time) of ``import azfunc_telemetry; setup()``."""
    code = "import azfunc_telemetry\nazfunc_telemetry.setup()"
    child = run_child(["-X", "importtime", "-c", code], env=env, timeout_s=60.0)
    rows = []
    for line in child.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [part.strip() for part in line[len("import time:") :].split("|")]
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        rows.append(
            {"module": parts[2].strip(), "self_us": int(parts[0]), "cumulative_us": int(parts[1])}
        )
    rows.sort(key=lambda row: -int(str(row["self_us"])))
    return rows[:10]


def run(settings: Settings, emulator: EmulatorProcess) -> BenchmarkResult:
    """Measure import-plus-setup time and memory in fresh interpreters."""
    result = BenchmarkResult("cold_start", "Cold start")
    walls: dict[str, list[float]] = {name: [] for name in VARIANTS}
    rss: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with scratch_storage() as storage:
        env = app_env(storage, emulator.connection_string)
        for _ in range(settings.cold_runs):
            for name, (_, body) in VARIANTS.items():
                child = run_child(
                    ["-c", _HARNESS.format(body=body)], env=env, timeout_s=60.0, fresh_rss=True
                )
                report = child.result()
                walls[name].append(float(report["wall_ms"]))
                rss[name].append(float(report["maxrss_kib"]) / 1024.0)
        result.diagnostics["slowest_imports"] = _import_profile(env)

    wall = {name: statistics.median(values) for name, values in walls.items()}
    peak = {name: statistics.median(values) for name, values in rss.items()}
    for name, (label, _) in VARIANTS.items():
        result.add(f"{name}_wall_ms", f"{label}: wall time", wall[name], "ms", walls[name])
        result.add(f"{name}_rss_mib", f"{label}: peak RSS", peak[name], "MiB", rss[name])
    for name in ("azfunc", "azfunc_first_invocation", "opencensus"):
        label = VARIANTS[name][0]
        result.add(
            f"{name}_wall_over_bare_ms", f"{label}: wall over bare", wall[name] - wall["bare"], "ms"
        )
        result.add(
            f"{name}_rss_over_bare_mib", f"{label}: RSS over bare", peak[name] - peak["bare"], "MiB"
        )
    result.target(
        "cold_start_wall",
        "cold start: import + setup at most 50 ms over bare Python",
        wall["azfunc"] - wall["bare"],
        "<=",
        _WALL_LIMIT_MS,
        "ms",
    )
    result.target(
        "cold_start_rss",
        "cold start: at most 15 MiB of peak RSS over bare Python",
        peak["azfunc"] - peak["bare"],
        "<=",
        _RSS_LIMIT_MIB,
        "MiB",
    )
    result.notes.append(
        f"median of {settings.cold_runs} fresh interpreters per variant, run in turn; wall time "
        "is measured inside the child around the import and setup; peak RSS is the child's "
        "ru_maxrss at exit, the child started from a small shell so it does not inherit the "
        "runner's size"
    )
    return result
