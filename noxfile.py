"""Developer and CI sessions. ``nox`` alone runs what CI runs.

The default sessions are lint, typecheck, tests, samples, worker and bench_smoke.

Sessions run with the interpreter nox itself runs on, so CI needs only one Python. The
``tests_all`` session runs the suite on every supported Python that is installed; with ``CI`` set
a missing interpreter would be an error, so CI does not run it. The ``worker`` session needs
Python 3.13 (the worker's runtime libraries require it); it finds one on ``PATH`` or among
pyenv's versions and skips, saying so, where there is none.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "samples", "worker", "bench_smoke"]

SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]
TEST_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
# The developer tools' exact versions, shared with .ci/run.
PINS = ("-c", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".ci", "dev-tools.txt"))


#: The worker's runtime libraries the ``worker`` session runs the samples in (newest on PyPI).
WORKER_RUNTIMES = ("azure-functions-runtime==1.3.0", "azure-functions-runtime-v1==1.2.0")


def _python_313() -> str | None:
    """A working Python 3.13: on PATH, or installed by pyenv (whose shim may not expose it)."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which("python3.13")]
    candidates += sorted(
        glob.glob(os.path.join(pyenv_root, "versions", "3.13.*", "bin", "python3.13"))
    )
    for candidate in candidates:
        if candidate is None:
            continue
        check = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


PYTHON_313 = _python_313()


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
    # tests/ and tests/worker/ each import their own top-level helper modules and conftest, so
    # they are two mypy runs; the worker tests also import tests/'s helpers.
    session.run("mypy", "tests", "--exclude", "tests/worker/")
    session.run("mypy", "tests/worker", env={"MYPYPATH": "tests"})


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


@nox.session(python=PYTHON_313 or False)
def worker(session: nox.Session) -> None:
    """The samples inside the real worker runtime libraries (tests/worker), on Python 3.13."""
    if PYTHON_313 is None:
        session.skip(
            "Python 3.13 is not installed, so the samples were NOT run inside the worker runtime "
            "libraries (azure-functions-runtime and azure-functions-runtime-v1 need 3.13+). "
            "Install Python 3.13 (on PATH or with pyenv) to run tests/worker"
        )
    session.install(*PINS, ".[dev]", *WORKER_RUNTIMES)
    session.run("pytest", "-p", "no:cacheprovider", "tests/worker", *session.posargs, env=TEST_ENV)


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
