"""Tests for the local telemetry sink and the azfunc-telemetry command line."""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import queue
import re
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import pytest
from helpers import otel_envelope, otel_message

from azfunc_telemetry.local.cli import main
from azfunc_telemetry.local.sink import TelemetrySink
from azfunc_telemetry.local.store import TelemetryStore

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def dependency() -> dict[str, Any]:
    """An OTel client-span envelope."""
    return otel_envelope(
        "RemoteDependencyData",
        {
            "name": "POST /v1/items",
            "id": "e09f933edd36fa7c",
            "resultCode": "503",
            "duration": "0.00:00:00.020",
            "success": False,
            "type": "HTTP",
            "data": "https://backend.example.com/v1/items",
            "target": "backend.example.com",
        },
    )


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.fixture
def sink(tmp_path: pathlib.Path) -> Iterator[TelemetrySink]:
    with TelemetrySink(tmp_path / "sink.db", port=0) as running:
        yield running


def track_url(sink: TelemetrySink) -> str:
    return sink.connection_string.split("IngestionEndpoint=")[1] + "v2.1/track"


def test_all_encodings_are_stored(sink: TelemetrySink) -> None:
    """JSON array, NDJSON and gzipped NDJSON posts all end up as table rows."""
    url = track_url(sink)
    array = json.dumps([otel_message("array"), dependency()]).encode()
    ndjson = "\n".join(json.dumps(otel_message(text)) for text in ("nd-1", "nd-2")).encode()
    gz = gzip.compress(json.dumps(otel_message("gzip")).encode())
    answers = [
        post(url, array, {"Content-Type": "application/json"}),
        post(url, ndjson, {"Content-Type": "application/x-json-stream"}),
        post(url, gz, {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
    ]
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [document["itemsAccepted"] for _, document in answers] == [2, 2, 1]
    traces = sink.store.rows("traces")
    assert [row["message"] for row in traces] == ["array", "nd-1", "nd-2", "gzip"]
    assert traces[0]["customDimensions"] == {"invocation_id": "abc-123", "count": "3"}
    [call] = sink.store.rows("dependencies")
    assert (call["success"], call["duration"]) == (False, pytest.approx(20.0))
    assert sink.rows_stored == 5


def test_rows_persist_after_stop(tmp_path: pathlib.Path) -> None:
    """A stopped sink leaves its rows in the database file for later queries."""
    path = tmp_path / "persist.db"
    with TelemetrySink(path, port=0) as sink:
        post(track_url(sink), json.dumps([otel_message("kept")]).encode(), {})
    with TelemetryStore(path) as store:
        assert [row["message"] for row in store.rows("traces")] == ["kept"]


def test_ikey_restriction(tmp_path: pathlib.Path) -> None:
    """A sink bound to one key rejects others per item and puts its key in the string."""
    own = "abcdef00-1111-2222-3333-444455556666"
    with TelemetrySink(tmp_path / "k.db", port=0, ikey=own) as sink:
        assert sink.connection_string.startswith(f"InstrumentationKey={own};")
        status, document = post(
            track_url(sink),
            json.dumps([otel_message("foreign"), otel_message("own", own)]).encode(),
            {},
        )
        assert status == 206
        assert document["errors"][0]["message"] == "Invalid instrumentation key"
        assert [row["message"] for row in sink.store.rows("traces")] == ["own"]


def test_connection_string_shape(sink: TelemetrySink) -> None:
    """The sink advertises a loopback endpoint with a trailing slash."""
    assert sink.connection_string == (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint=http://127.0.0.1:{sink.port}/"
    )


def test_run_returns_when_stopped_from_another_thread(tmp_path: pathlib.Path) -> None:
    """run() blocks serving until stop() is called, then returns."""
    sink = TelemetrySink(tmp_path / "run.db", port=0)
    runner = threading.Thread(target=sink.run)
    runner.start()
    deadline = time.monotonic() + 10
    status = 0
    while time.monotonic() < deadline and status != 200:
        try:
            status, _ = post(track_url(sink), json.dumps([otel_message("running")]).encode(), {})
        except urllib.error.URLError:
            continue
    sink.stop()
    runner.join(5)
    assert status == 200
    assert not runner.is_alive()


def read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_cli_sink_prints_connection_string_and_stops_on_sigterm(
    tmp_path: pathlib.Path,
) -> None:
    """`python -m azfunc_telemetry sink --port 0` prints the connection string, stores, exits."""
    db = tmp_path / "cli.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "azfunc_telemetry", "sink", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=20).strip()
        match = re.fullmatch(
            r"InstrumentationKey=[0-9a-f-]{36};IngestionEndpoint=(http://127\.0\.0\.1:\d+/)", first
        )
        assert match is not None, first
        assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in lines.get(timeout=10)
        status, _ = post(
            match.group(1) + "v2.1/track", json.dumps([otel_message("cli")]).encode(), {}
        )
        assert status == 200
        process.terminate()
        started = time.monotonic()
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(5)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    with TelemetryStore(db) as store:
        assert [row["message"] for row in store.rows("traces")] == ["cli"]


def test_cli_sink_reports_busy_port(tmp_path: pathlib.Path, capsys: Any) -> None:
    """A port already in use is a clear error with exit status 1."""
    with TelemetrySink(tmp_path / "a.db", port=0) as busy:
        code = main(["sink", "--port", str(busy.port), "--db", str(tmp_path / "b.db")])
    assert code == 1
    assert "cannot listen" in capsys.readouterr().err


def test_cli_query_without_database(tmp_path: pathlib.Path, capsys: Any) -> None:
    """Querying a database that does not exist fails with a hint instead of creating it."""
    missing = tmp_path / "missing.db"
    assert main(["query", "traces", "--db", str(missing)]) == 1
    assert "azfunc-telemetry sink" in capsys.readouterr().err
    assert not missing.exists()


def test_cli_query_json(tmp_path: pathlib.Path, capsys: Any) -> None:
    """`query --json` prints columns and rows, with datetimes as ISO strings."""
    pytest.importorskip("azfunc_telemetry.local.kql")
    db = tmp_path / "q.db"
    with TelemetryStore(db) as store:
        store.insert([otel_message("queried")])
    code = main(["query", "traces | project timestamp, message", "--db", str(db), "--json"])
    output = capsys.readouterr().out
    assert code == 0
    document = json.loads(output)
    assert document["columns"] == ["timestamp", "message"]
    [[timestamp, text]] = document["rows"]
    assert text == "queried"
    assert datetime.fromisoformat(timestamp.replace("Z", "+00:00")).tzinfo is not None


def test_cli_query_error_shows_caret(tmp_path: pathlib.Path, capsys: Any) -> None:
    """A KQL error prints the message, the query and a caret, and exits 2."""
    pytest.importorskip("azfunc_telemetry.local.kql")
    db = tmp_path / "e.db"
    TelemetryStore(db).close()
    assert main(["query", "traces | whre message == 'x'", "--db", str(db)]) == 2
    err_lines = capsys.readouterr().err.splitlines()
    assert err_lines[1].strip() == "traces | whre message == 'x'"
    assert err_lines[2].strip() == "^"


def test_cli_demo_passes_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo --db X --keep` calls azfunc_telemetry.local.demo.main(X, True)."""
    calls: list[tuple[str | None, bool]] = []
    demo = types.ModuleType("azfunc_telemetry.local.demo")

    def fake_main(db_path: str | None, keep: bool) -> int:
        calls.append((db_path, keep))
        return 7

    demo.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azfunc_telemetry.local.demo", demo)
    assert main(["demo", "--db", "x.db", "--keep"]) == 7
    assert main(["demo"]) == 7
    assert calls == [("x.db", True), (None, False)]


def test_cli_db_defaults_to_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Without --db, AZFUNC_TELEMETRY_DB names the database."""
    missing = tmp_path / "from-env.db"
    monkeypatch.setenv("AZFUNC_TELEMETRY_DB", str(missing))
    assert main(["query", "traces"]) == 1
    assert str(missing) in capsys.readouterr().err
