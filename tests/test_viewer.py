"""``azfunc-telemetry ui``'s server: what it reads from the store, in either invocation shape,
how it answers KQL, and how it protects the telemetry it shows."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from viewer_support import (
    HOSTILE_DIMENSION,
    HOSTILE_MESSAGE,
    ViewerStore,
    build_store,
    copy_in_shape,
    get,
    get_json,
    post,
    query,
)

from azfunc_telemetry.local import demo
from azfunc_telemetry.local.store import connect_read_only
from azfunc_telemetry.local.viewer import (
    CONTENT_SECURITY_POLICY,
    RemoteBindRefusedError,
    ViewerServer,
    is_loopback,
)
from azfunc_telemetry.local.viewer.queries import render_hint
from azfunc_telemetry.local.viewer.reader import load_invocation_detail, load_invocations

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "azfunc_telemetry" / "local" / "viewer" / "static"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ViewerStore:
    """The demo's telemetry and a hostile invocation, in the shape the library writes today."""
    return build_store(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module", params=["request", "dependency"])
def shaped(
    request: pytest.FixtureRequest, store: ViewerStore, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """The same telemetry with our invocation items as requests rows, or as InProc
    dependencies under the host's request rows."""
    shape = str(request.param)
    target = tmp_path_factory.mktemp(f"shape-{shape}") / "shaped.db"
    return shape, copy_in_shape(store.path, target, shape)


@pytest.fixture
def server(store: ViewerStore) -> Iterator[ViewerServer]:
    """The viewer serving the store on a free loopback port."""
    with ViewerServer(store.path, port=0) as running:
        yield running


def test_every_invocation_is_listed_once_with_its_thread_and_wait(
    store: ViewerStore, shaped: tuple[str, Path]
) -> None:
    """Both shapes list each invocation once, with its function, lane, pool wait and outcome."""
    shape, path = shaped
    invocations = load_invocations(str(path))
    ids = [item.invocation_id for item in invocations]
    assert len(ids) == len(set(ids))
    assert set(ids) == store.expected_ids()
    function_of = store.workload.function_of()
    failed = store.workload.failed_ids()
    pool_threads = set()
    for item in invocations:
        assert item.shape == shape
        assert item.function_name == function_of.get(item.invocation_id, "Hostile")
        assert item.success is (item.invocation_id not in failed)
        assert item.thread_name
        assert item.duration_ms >= 0
        if item.execution_mode == "sync":
            pool_threads.add(item.thread_name)
            assert item.pool_wait_ms is not None
            assert item.pool_size == (2 if item.function_name == "Hostile" else 4)
        else:
            assert item.function_name == "HttpAsync"
        if shape == "dependency":
            assert item.host_duration_ms is not None
    demo_threads = {i.thread_name for i in invocations if i.function_name != "Hostile"}
    assert len(demo_threads) == 5  # four pool threads and the event loop
    assert sum(item.cold_start is True for item in invocations) <= 1
    # Invocations queued behind the 4-thread pool waited, and some met it saturated.
    assert max(item.pool_wait_ms or 0 for item in invocations) > 50
    assert any(item.pool_saturated for item in invocations)


def test_drill_down_has_logs_in_order_spans_exception_and_dimensions(
    store: ViewerStore, shaped: tuple[str, Path]
) -> None:
    """One invocation's detail: its own logs in time order with levels, its spans, its exception
    with the stack, and its dimensions, in either shape."""
    shape, path = shaped
    fan_out = load_invocation_detail(str(path), store.workload.showcase_invocation_id)
    assert fan_out is not None
    messages = [log["message"] for log in fan_out.logs]
    priced = sorted(re.sub(r"pricing_\d+$", "pricing", text) for text in messages[:4])
    assert priced == [f"Priced sku-{n} in pricing" for n in (1001, 2002, 3003, 4004)]
    assert messages[4:] == ["Audit record written for 38.00 in auditor", "Basket total 38.00"]
    assert {log["level"] for log in fan_out.logs} == {"INFO"}
    assert [log["time"] for log in fan_out.logs] == sorted(log["time"] for log in fan_out.logs)
    assert fan_out.dimensions["function_name"] == "FanOut"
    assert fan_out.dimensions["invocation_id"] == store.workload.showcase_invocation_id
    assert (fan_out.host_dimensions is not None) is (shape == "dependency")

    failed_id = sorted(store.workload.failed_ids())[0]
    failed = load_invocation_detail(str(path), failed_id)
    assert failed is not None
    assert failed.invocation.success is False
    assert [log["level"] for log in failed.logs] == ["INFO", "WARNING"]
    assert failed.logs[1]["message"].endswith("has no items")
    (error,) = failed.exceptions
    assert error["type"] == "InvalidOrderError"
    frames = error["details"][0]["parsedStack"]
    assert any(frame["method"] == "queue_worker" for frame in frames)
    assert [dep["name"] for dep in failed.dependencies] == []

    sync_id = next(
        r.invocation_id for r in store.workload.invocations if r.function_name == "HttpSync"
    )
    http_sync = load_invocation_detail(str(path), sync_id)
    assert http_sync is not None
    assert [(dep["name"], dep["type"]) for dep in http_sync.dependencies] == [
        ("SELECT customers", "SQL")
    ]
    assert load_invocation_detail(str(path), "no-such-invocation") is None


def test_api_serves_the_list_detail_and_version(server: ViewerServer, store: ViewerStore) -> None:
    """The page's JSON API returns the invocations, one invocation's detail and a change marker."""
    listing = get_json(server.url + "api/invocations")
    assert {item["invocation_id"] for item in listing["invocations"]} == store.expected_ids()
    assert listing["version"] == get_json(server.url + "api/version")["version"]
    detail = get_json(server.url + f"api/invocation?id={store.hostile_id}")
    assert [log["message"] for log in detail["logs"]] == [HOSTILE_MESSAGE]
    assert detail["dimensions"]["function_name"] == "Hostile"
    status, _headers, _body = get(server.url + "api/invocation?id=unknown")
    assert status == 404


def test_every_response_carries_a_strict_content_security_policy(server: ViewerServer) -> None:
    """The page, its scripts and the API all come with the CSP and no-sniff headers."""
    for path in ("", "viewer.js", "timeline.js", "chart.js", "dom.js", "viewer.css", "api/version"):
        status, headers, body = get(server.url + path)
        assert status == 200, path
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert body
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    # No inline script or style in the page itself, so the policy never needs 'unsafe-inline'.
    page = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page
    assert "<style" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_page_code_never_parses_data_as_markup() -> None:
    """The scripts build the page with text nodes only: no innerHTML, outerHTML,
    insertAdjacentHTML, document.write or eval anywhere."""
    for script in STATIC.glob("*.js"):
        code = script.read_text()
        for sink in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            assert sink not in code, f"{script.name} uses {sink}"


def test_requests_naming_another_host_are_refused(server: ViewerServer) -> None:
    """A request whose Host is not loopback (DNS rebinding) gets no data."""
    status, _headers, body = get(server.url + "api/invocations", {"Host": "attacker.example"})
    assert status == 421
    assert b"invocation_id" not in body
    status, _headers, _body = get(server.url + "api/version", {"Host": "localhost:1"})
    assert status == 200


def test_a_query_needs_a_json_body(server: ViewerServer) -> None:
    """A cross-site form (form-encoded or text/plain) cannot run a query."""
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        status, _headers, _body = post(
            server.url + "api/query", b'{"query": "traces"}', content_type
        )
        assert status == 400


def test_only_loopback_is_served_unless_forced(tmp_path: Path) -> None:
    """Binding another interface is refused by default; loopback addresses are accepted."""
    with pytest.raises(RemoteBindRefusedError):
        ViewerServer(tmp_path / "x.db", host="0.0.0.0", port=0)
    with pytest.raises(RemoteBindRefusedError):
        ViewerServer(tmp_path / "x.db", host="192.0.2.1", port=0)
    with ViewerServer(tmp_path / "x.db", host="127.0.0.1", port=0) as served:
        assert served.url.startswith("http://127.0.0.1:")


def test_the_store_is_never_written(tmp_path: Path, store: ViewerStore) -> None:
    """The viewer opens SQLite read-only: a missing store is not created, and the connection
    refuses writes."""
    missing = tmp_path / "later.db"
    with ViewerServer(missing, port=0) as served:
        status, _headers, body = get(served.url + "api/invocations")
        assert status == 503
        assert b"cannot open" in body
        answer = query(served.url, "traces | take 1")
        assert answer["error"]
    assert not missing.exists()
    connection = connect_read_only(store.path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("DELETE FROM traces")
    finally:
        connection.close()


def test_kql_box_runs_the_cli_engine_and_reports_the_chart(
    server: ViewerServer, store: ViewerStore
) -> None:
    """Queries run on the store; a final render names the chart, errors keep their position."""
    answer = query(server.url, "requests | summarize n = count() by name | render piechart")
    assert answer["chart"] == "piechart"
    assert answer["columns"] == ["name", "n"]
    assert answer["types"] == ["string", "number"]
    # One requests row per invocation in either shape: ours, or the host's.
    assert dict(answer["rows"]) == {**store.workload.counts(), "Hostile": 1}
    answer = query(
        server.url,
        "customMetrics | summarize peak = max(value) by bin(timestamp, 1s), name"
        " | order by timestamp asc | render timechart",
    )
    assert answer["chart"] == "timechart"
    assert answer["types"][0] == "datetime"
    assert answer["rows"]
    assert answer["rows"][0][0].endswith("Z")
    broken = query(server.url, "traces | where")
    assert broken["error"]
    assert broken["position"] >= 0
    assert broken["rows"] == []


def test_render_hint_reads_only_the_final_operator() -> None:
    """`render` is taken from the last operator, never from a string or a comment."""
    assert render_hint("requests | render timechart") == "timechart"
    assert render_hint("requests\n| render  BarChart with (title='x | y')") == "barchart"
    assert render_hint("traces | where message == '| render piechart'") is None
    assert render_hint("traces // | render piechart") is None
    assert render_hint("traces | take 1") is None


@pytest.mark.slow
def test_static_files_ship_in_the_wheel(tmp_path: Path) -> None:
    """A wheel built from the source carries every file of the page as package data."""
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for asset in STATIC.iterdir():
        assert f"azfunc_telemetry/local/viewer/static/{asset.name}" in names


def _clean_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("APPLICATIONINSIGHTS_", "APPINSIGHTS_", "AZFUNC_TELEMETRY_"))
    }


def _first_line_matching(process: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matched {pattern!r}: {seen}")


def test_ui_command_serves_the_page_and_stops_on_sigterm(store: ViewerStore) -> None:
    """`azfunc-telemetry ui --db ... --port 0` prints its URL, serves the page, exits 0 on TERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "azfunc_telemetry", "ui", "--db", str(store.path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    try:
        url = _first_line_matching(process, r"(http://127\.0\.0\.1:\d+/)").group(1)
        status, headers, body = get(url)
        assert status == 200
        assert b"Concurrency timeline" in body
        assert headers["Content-Type"].startswith("text/html")
        listing = get_json(url + "api/invocations")
        assert len(listing["invocations"]) == len(store.expected_ids())
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_ui_command_refuses_a_remote_interface(store: ViewerStore) -> None:
    """`ui --host 0.0.0.0` without --allow-remote exits 1 and says why."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "azfunc_telemetry",
            "ui",
            "--db",
            str(store.path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        check=False,
    )
    assert completed.returncode == 1
    assert "not a loopback address" in completed.stderr
    assert "--allow-remote" in completed.stderr


def test_sink_prints_the_viewer_command(tmp_path: Path) -> None:
    """`azfunc-telemetry sink` tells how to see its store in the browser."""
    db = tmp_path / "sink.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "azfunc_telemetry", "sink", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    try:
        match = _first_line_matching(
            process, r"azfunc-telemetry ui --db (\S+)\s+\(then open (\S+)\)"
        )
        assert match.group(1) == str(db)
        assert match.group(2) == "http://127.0.0.1:8643/"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_hostile_values_reach_the_api_unchanged(server: ViewerServer, store: ViewerStore) -> None:
    """The API hands markup-looking text through as JSON strings; the page shows it as text."""
    detail = get_json(server.url + f"api/invocation?id={store.hostile_id}")
    assert detail["logs"][0]["fields"] == {"note": HOSTILE_DIMENSION}
    status, headers, body = get(server.url + f"api/invocation?id={store.hostile_id}")
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["logs"][0]["level"] == "WARNING"
    assert status == 200


def test_demo_prints_the_viewer_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo, keeping its store, says how to open it in the viewer and where the page is."""
    path = tmp_path / "demo.db"
    assert demo.main(str(path), keep=False) == 0
    out = capsys.readouterr().out
    assert f"azfunc-telemetry ui --db {path}   (http://127.0.0.1:8643/)" in out


def test_loopback_names() -> None:
    """Only loopback names and addresses count as loopback; anything else needs --allow-remote."""
    for host in ("127.0.0.1", "127.3.2.1", "localhost", "LOCALHOST", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", ""):
        assert not is_loopback(host), host
