"""Benchmark results: what each benchmark measured, which targets it checks, and the reports.

Each benchmark returns a :class:`BenchmarkResult`: named measurements (a number, a unit, the
repeats behind it) and targets (a limit, the measured value, pass or fail). The runner writes
them all as JSON for machines and as a markdown table for people.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BenchmarkResult", "Measurement", "Target", "render_markdown", "write_reports"]


@dataclass
class Measurement:
    """One reported number.

    Attributes:
        label: what was measured, in words.
        value: the number (a median when ``repeats`` is not empty).
        unit: ``µs``, ``ms``, ``MiB``, ``records/s``, ``x`` ...
        repeats: the individual repeats the value summarises, when there are several.
    """

    label: str
    value: float
    unit: str
    repeats: list[float] = field(default_factory=list)


@dataclass
class Target:
    """A speed or size target and whether this run met it.

    Attributes:
        name: short identifier, stable across runs.
        description: the target in words, as the issue states it.
        limit: the bound.
        comparison: ``<=`` (the measured value must not exceed ``limit``) or ``>=``.
        measured: the value compared with ``limit``.
        unit: unit of ``limit`` and ``measured``.
        passed: whether ``measured`` is within ``limit``.
    """

    name: str
    description: str
    limit: float
    comparison: str
    measured: float
    unit: str
    passed: bool = False

    def __post_init__(self) -> None:
        if self.comparison not in ("<=", ">="):
            raise ValueError(f"comparison must be '<=' or '>=', not {self.comparison!r}")
        if math.isnan(self.measured):
            self.passed = False
        elif self.comparison == "<=":
            self.passed = self.measured <= self.limit
        else:
            self.passed = self.measured >= self.limit


@dataclass
class BenchmarkResult:
    """Everything one benchmark reports."""

    name: str
    title: str
    measurements: dict[str, Measurement] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    def add(
        self, key: str, label: str, value: float, unit: str, repeats: Sequence[float] = ()
    ) -> float:
        """Record a measurement and return its value (so callers can compute with it)."""
        self.measurements[key] = Measurement(
            label, float(value), unit, [round(float(r), 3) for r in repeats]
        )
        return float(value)

    def target(
        self, name: str, description: str, measured: float, comparison: str, limit: float, unit: str
    ) -> Target:
        """Record a target check and return it."""
        checked = Target(name, description, limit, comparison, float(measured), unit)
        self.targets.append(checked)
        return checked


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit in ("records/s", "items/s", "records", "items", "blobs", "runs"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}"
    if unit == "s" and abs(value) < 10:
        return f"{value:.3f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_markdown(document: dict[str, Any], results: Sequence[BenchmarkResult]) -> str:
    """The human report: targets first, then every measurement, then the machine."""
    machine = document["machine"]
    lines = [
        f"# azfunc_telemetry benchmarks ({document['mode']} run)",
        "",
        f"Run at {document['started_at']} in {document['duration_s']:.0f} s on "
        f"{machine['cpu_model']} ({machine['cpus_usable']} usable CPUs), "
        f"{machine['python']['implementation']} {machine['python']['version']}, "
        f"azfunc-telemetry {machine['packages'].get('azfunc-telemetry', '?')}.",
        "",
        "## Targets",
        "",
        "| Benchmark | Target | Limit | Measured | Result |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for target in result.targets:
            verdict = "met" if target.passed else "**missed**"
            lines.append(
                f"| {result.title} | {target.description} | {target.comparison} "
                f"{_number(target.limit, target.unit)} {target.unit} | "
                f"{_number(target.measured, target.unit)} {target.unit} | {verdict} |"
            )
    lines += ["", "## Measurements", "", "| Benchmark | Measurement | Value |", "|---|---|---|"]
    for result in results:
        for measurement in result.measurements.values():
            lines.append(
                f"| {result.title} | {measurement.label} | "
                f"{_number(measurement.value, measurement.unit)} {measurement.unit} |"
            )
    notes = [(result.title, note) for result in results for note in result.notes]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {title}: {note}" for title, note in notes]
    lines += [
        "",
        "## Machine",
        "",
        "```json",
        json.dumps(machine, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """The same structure with NaN (a measurement that could not be taken) as JSON null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_reports(
    out_dir: Path, document: dict[str, Any], results: Sequence[BenchmarkResult]
) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    full = dict(document)
    full["benchmarks"] = {result.name: asdict(result) for result in results}
    targets = [target for result in results for target in result.targets]
    full["targets_met"] = sum(1 for target in targets if target.passed)
    full["targets_total"] = len(targets)
    json_path = out_dir / "latest.json"
    md_path = out_dir / "latest.md"
    json_path.write_text(json.dumps(_finite(full), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(full, results), encoding="utf-8")
    return json_path, md_path
