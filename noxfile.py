"""Developer and CI sessions. ``nox`` alone runs what CI runs.

The default sessions are lint, typecheck, tests, samples and bench_smoke.

Sessions run with the interpreter nox itself runs on, so CI needs only one Python. The
``tests_all`` session runs the suite on every supported Python that is installed; with ``CI`` set
a missing interpreter would be an error, so CI does not run it.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "samples", "bench_smoke"]

SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]
TEST_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
# The developer tools' exact versions, shared with .ci/run.
PINS = ("-c", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".ci", "dev-tools.txt"))


LINTED = ["azfunc_telemetry", "tests", "samples", "bench", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*PINS, "ruff")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, then on the tests (pyproject.toml says how strictly)."""
    session.install(*PINS, "-e", ".[dev]")
    session.run("mypy", "azfunc_telemetry")
    session.run("mypy", "tests")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the installed package (not the source tree)."""
    session.install(*PINS, ".[dev]")
    session.run("pytest", *session.posargs, env=TEST_ENV)


@nox.session(python=SUPPORTED)
def tests_all(session: nox.Session) -> None:
    """The suite on every supported Python (not in CI: it may not have them all)."""
    session.install(*PINS, ".[dev]")
    session.run("pytest", *session.posargs, env=TEST_ENV)


@nox.session
def samples(session: nox.Session) -> None:
    """The sample function app's own unit tests, run the way its README says."""
    session.install(*PINS, ".[dev]")
    session.chdir("samples")
    session.run("pytest", "-p", "no:cacheprovider", "tests", env=TEST_ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Full benchmarks; writes bench/results/latest.json and bench/results/latest.md."""
    session.install(*PINS, ".[dev]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """The benchmarks in a fast smoke mode: they run, the numbers are not judged."""
    session.install(*PINS, ".[dev]")
    session.run(
        "python", "-m", "bench", "--smoke", "--out", os.path.join(session.create_tmp(), "bench")
    )
