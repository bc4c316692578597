"""Starting the child processes the benchmarks need: the emulator, fresh interpreters.

Children run with the parent's interpreter and environment, with the repository root on
``PYTHONPATH`` so ``python -m bench.<child>`` resolves the same ``bench`` package and the same
``azfunc_telemetry`` the parent imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ChildRun", "EmulatorProcess", "app_env", "child_env", "run_child", "scratch_storage"]

ROOT = Path(__file__).resolve().parent.parent

#: Telemetry settings every child gets: no statsbeat (it would call out to Azure), and no
#: Functions-host settings leaking in from the shell that runs the benchmarks.
_CLEAN_PREFIXES = ("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_")
_SHELL = "/bin/sh"


def child_env(**settings: str) -> dict[str, str]:
    """The parent's environment, cleaned of telemetry settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN_PREFIXES)}
    env.pop("FUNCTIONS_WORKER_RUNTIME", None)
    env["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + existing if existing else "")
    env.update(settings)
    return env


def app_env(storage: str, connection_string: str | None = None) -> dict[str, str]:
    """A benchmarked app's environment: its local storage in ``storage`` and, unless ``None``,
    ``connection_string`` as the app setting that ``setup()`` reads."""
    if connection_string is None:
        return child_env(AZFUNC_TELEMETRY_STORAGE_PATH=storage)
    return child_env(
        APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string,
        AZFUNC_TELEMETRY_STORAGE_PATH=storage,
    )


@contextmanager
def scratch_storage() -> Iterator[str]:
    """A fresh folder for the library's local storage during one benchmark, removed after it.

    Each benchmark gets its own, so blobs one leaves behind never reach the next one's numbers.
    """
    storage = tempfile.mkdtemp(prefix="azfunc-bench-")
    try:
        yield storage
    finally:
        shutil.rmtree(storage, ignore_errors=True)


class ChildRun:
    """A finished child: its exit status, output, peak RSS and when it ended."""

    def __init__(
        self, returncode: int, stdout: str, stderr: str, max_rss_kib: int, ended: float
    ) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.max_rss_kib = max_rss_kib
        self.ended = ended

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line that is a JSON object."""
        found = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def result(self) -> dict[str, Any]:
        """The child's last JSON line; raises when the child failed or printed none."""
        lines = self.json_lines()
        if self.returncode != 0 or not lines:
            raise RuntimeError(
                f"benchmark child failed (exit {self.returncode}): {self.stderr[-2000:]}"
            )
        return lines[-1]


def run_child(
    args: list[str], *, env: dict[str, str], timeout_s: float = 600.0, fresh_rss: bool = False
) -> ChildRun:
    """Run ``python <args>`` to completion and collect its resource usage with ``wait4``.

    ``wait4`` gives the resource usage of exactly this child (``RUSAGE_CHILDREN`` would give
    the maximum over every child so far). ``ended`` is ``time.monotonic()`` right after it
    exited. Output goes to temporary files, so the parent blocks in ``wait4`` alone and notices
    the exit at once.

    Linux starts a child's peak RSS at its parent's RSS at ``fork`` (``exec`` keeps the
    high-water mark of the forked copy), so a child of this large process would report at least
    the parent's size. With ``fresh_rss`` the child is started from a small ``/bin/sh`` instead,
    whose own child starts from the shell's size; the child must then report its own peak RSS
    (``ru_maxrss`` of ``RUSAGE_SELF``), and :attr:`ChildRun.max_rss_kib` is the shell's.
    """
    command = [sys.executable, *args]
    if fresh_rss and os.path.exists(_SHELL):
        # No exec in the shell: it forks the interpreter from its own small image and waits.
        command = [_SHELL, "-c", '"$@"; exit $?', "sh", *command]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=str(ROOT),
        )
        watchdog = threading.Timer(timeout_s, process.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
            ended = time.monotonic()
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return ChildRun(process.returncode, stdout, stderr, int(usage.ru_maxrss), ended)


class EmulatorProcess:
    """The ingestion emulator running in :mod:`bench.emulator_child`; a context manager."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.connection_string = ""
        self.port = 0

    @classmethod
    def attached(cls, connection_string: str, port: int) -> EmulatorProcess:
        """A handle on an emulator another process started: its address, not its commands."""
        handle = cls()
        handle.connection_string = connection_string
        handle.port = port
        return handle

    def __enter__(self) -> EmulatorProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
            cwd=str(ROOT),
            text=True,
        )
        hello = self._read()
        self.connection_string = str(hello["connection_string"])
        self.port = int(hello["port"])
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self) -> dict[str, Any]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited unexpectedly")
        result: dict[str, Any] = json.loads(line)
        return result

    @property
    def pid(self) -> int | None:
        """The emulator process's id, when it was started here."""
        return None if self._process is None else self._process.pid

    def command(self, name: str) -> dict[str, Any]:
        """Send one command (``count``, ``hang``, ``normal``) and return the answer."""
        if self._process is None:
            raise RuntimeError("this emulator handle was not started here; it takes no commands")
        assert self._process.stdin is not None
        self._process.stdin.write(name + "\n")
        self._process.stdin.flush()
        return self._read()

    def counts(self) -> dict[str, int]:
        """Items, requests and hung requests received so far."""
        return {key: int(value) for key, value in self.command("count").items()}

    def close(self) -> None:
        """Stop the emulator process (bounded)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.write("quit\n")
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
