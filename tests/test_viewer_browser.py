"""The viewer page in a real headless Chromium, after the demo workload: the list, the
timeline's lanes, bars and waits, the drill-down, hostile text shown as text, zoom, live
refresh, the KQL box's table and charts, and a screenshot."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser, BrowserError, ensure_chromium
from viewer_support import (
    HOSTILE_DIMENSION,
    HOSTILE_MESSAGE,
    ViewerStore,
    build_store,
    copy_as_two_processes,
    copy_in_shape,
    hostile,
    hostile_request,
    run_invocation,
)

from azfunc_telemetry.local.viewer import ViewerServer
from azfunc_telemetry.local.viewer.reader import load_invocations

# A real browser against a served page, about 10 s: left out of the fast inner loop.
pytestmark = pytest.mark.slow

SCREENSHOT_ENV = "AZFUNC_VIEWER_SCREENSHOT"
"""Set to a path to keep a copy of the screenshot (docs/viewer.png is made this way)."""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed when missing; CI must have it, elsewhere the tests skip."""
    path = ensure_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing and could not be installed")
        pytest.skip("Chromium is not installed and cannot be installed here")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ViewerStore:
    """The demo's telemetry and a hostile invocation."""
    return build_store(tmp_path_factory.mktemp("viewer-browser"))


@pytest.fixture(scope="module")
def server(store: ViewerStore) -> Iterator[ViewerServer]:
    """The viewer over that store."""
    with ViewerServer(store.path, port=0) as running:
        yield running


@pytest.fixture(scope="module")
def page(chromium: str, server: ViewerServer, store: ViewerStore) -> Iterator[Browser]:
    """The page loaded in Chromium, once every invocation is drawn."""
    with Browser(chromium) as browser:
        browser.navigate(server.url)
        expected = len(store.expected_ids())
        browser.wait_for(
            f"document.querySelectorAll('#invocation-list tbody tr').length === {expected}"
        )
        yield browser


def _js(value: object) -> str:
    return json.dumps(value)


def _bar(invocation_id: str) -> str:
    return f"#timeline rect.bar[data-invocation-id={_js(invocation_id)}]"


def click_bar(page: Browser, invocation_id: str) -> None:
    """Zoom with the mouse wheel around the invocation's bar until it is wide, then click it,
    as a person would when bars are packed tight."""
    for _ in range(30):
        box = page.evaluate(
            f"(() => {{ const e = document.querySelector({_js(_bar(invocation_id))});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2, width: r.width}; })()"
        )
        assert box is not None, f"no bar for {invocation_id}"
        if box["width"] >= 12:
            break
        page.call(
            "Input.dispatchMouseEvent",
            {"type": "mouseWheel", "x": box["x"], "y": box["y"], "deltaX": 0, "deltaY": -120},
            session=True,
        )
    page.click(_bar(invocation_id))


def fit(page: Browser) -> None:
    """Show everything and follow new telemetry again."""
    if not page.evaluate("document.getElementById('follow').checked"):
        page.click("#follow")
    page.click("#zoom-fit")
    page.wait_for("document.getElementById('follow').checked")


def test_page_lists_every_invocation(page: Browser, store: ViewerStore) -> None:
    """The list shows each invocation once, with function, start, duration, status, cold start
    and pool wait."""
    rows = page.evaluate(
        "[...document.querySelectorAll('#invocation-list tbody tr')].map(r => ({"
        " id: r.dataset.invocationId, cells: [...r.cells].map(c => c.textContent)}))"
    )
    assert {row["id"] for row in rows} == store.expected_ids()
    function_of = {**store.workload.function_of(), store.hostile_id: "Hostile"}
    failed = store.workload.failed_ids()
    for row in rows:
        function, start, duration, status, cold, wait, thread = row["cells"]
        assert function == function_of[row["id"]]
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", start)
        assert float(duration.replace(",", "")) >= 0
        assert status.startswith("failed") is (row["id"] in failed)
        assert cold in ("yes", "no")
        assert (wait == "") is (function == "HttpAsync")
        assert thread
    assert page.evaluate("document.getElementById('invocation-count').textContent") == (
        f"{len(rows)} invocations"
    )


def test_timeline_has_one_bar_per_invocation_in_its_lane(page: Browser, store: ViewerStore) -> None:
    """Every invocation is one bar in its thread's lane (or its event loop's), sync ones that
    waited have a wait strip ending where their bar starts, and the pool's size and saturation
    are drawn."""
    expected = {item.invocation_id: item for item in load_invocations(str(store.path))}
    bars = page.evaluate(
        "[...document.querySelectorAll('#timeline rect.bar')].map(b => ({"
        " id: b.dataset.invocationId, lane: b.dataset.lane, x: +b.getAttribute('x'),"
        " fill: b.getAttribute('fill'), fn: b.dataset.function}))"
    )
    assert sorted(bar["id"] for bar in bars) == sorted(expected)
    for bar in bars:
        item = expected[bar["id"]]
        lane = (
            item.thread_name if item.execution_mode == "sync" else f"event loop: {item.thread_name}"
        )
        assert bar["lane"] == lane
    lanes = page.evaluate(
        "[...document.querySelectorAll('#timeline text.lane-label[data-lane]')]"
        ".map(t => t.dataset.lane)"
    )
    assert lanes == sorted(
        {bar["lane"] for bar in bars}, key=lambda lane: (lane.startswith("event"), lane)
    )
    assert sum(lane.startswith("event loop") for lane in lanes) == 1
    # One colour per function.
    colours: dict[str, set[str]] = {}
    for bar in bars:
        colours.setdefault(bar["fn"], set()).add(bar["fill"])
    assert all(len(fills) == 1 for fills in colours.values())
    assert len({next(iter(f)) for f in colours.values()}) == len(colours)
    waits = page.evaluate(
        "[...document.querySelectorAll('#timeline rect.wait')].map(w => ({"
        " id: w.dataset.invocationId, lane: w.dataset.lane,"
        " end: +w.getAttribute('x') + +w.getAttribute('width')}))"
    )
    waited = {i for i, item in expected.items() if (item.pool_wait_ms or 0) > 0}
    assert {wait["id"] for wait in waits} == waited
    assert len(waits) == len(waited)
    bar_x = {bar["id"]: bar["x"] for bar in bars}
    bar_lane = {bar["id"]: bar["lane"] for bar in bars}
    for wait in waits:
        assert wait["lane"] == bar_lane[wait["id"]]
        assert abs(wait["end"] - bar_x[wait["id"]]) < 1.01
    assert (
        page.evaluate("document.querySelector('#timeline line.pool-size-line').dataset.poolSize")
        == "4"
    )
    assert page.evaluate("document.querySelectorAll('#timeline rect.saturated').length") > 0
    marks = page.evaluate("document.querySelectorAll('#timeline path.saturated-mark').length")
    assert marks == sum(bool(item.pool_saturated) for item in expected.values())


def test_clicking_a_bar_shows_that_invocations_logs(page: Browser, store: ViewerStore) -> None:
    """A click on the fan-out's bar drills down to its own six log records, in order."""
    showcase = store.workload.showcase_invocation_id
    click_bar(page, showcase)
    page.wait_for(f"document.getElementById('detail').dataset.invocationId === {_js(showcase)}")
    logs = page.evaluate(
        "[...document.querySelectorAll('#detail .log-row')].map(r => ["
        " r.cells[1].textContent, r.querySelector('.message').textContent])"
    )
    assert [level for level, _ in logs] == ["INFO"] * 6
    messages = [re.sub(r"pricing_\d+$", "pricing", message) for _, message in logs]
    assert sorted(messages[:4]) == [f"Priced sku-{n} in pricing" for n in (1001, 2002, 3003, 4004)]
    assert messages[4:] == ["Audit record written for 38.00 in auditor", "Basket total 38.00"]
    assert (
        page.evaluate("document.querySelector('#timeline rect.bar.selected').dataset.invocationId")
        == showcase
    )
    dims = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#detail table.dimensions tbody tr')]"
        ".map(r => [r.cells[0].textContent, r.cells[1].textContent]))"
    )
    assert dims["invocation_id"] == showcase
    assert dims["function_name"] == "FanOut"


def test_failed_invocation_shows_its_exception_and_stack(page: Browser, store: ViewerStore) -> None:
    """A failed queue invocation's drill-down shows the exception type, message and frames."""
    failed_id = sorted(store.workload.failed_ids())[0]
    page.click(f"#invocation-list tr[data-invocation-id={_js(failed_id)}]")
    page.wait_for(f"document.getElementById('detail').dataset.invocationId === {_js(failed_id)}")
    stack = page.wait_for("document.querySelector('#detail pre.stack')?.textContent")
    assert stack.startswith("InvalidOrderError: order order-")
    assert "in queue_worker" in stack
    levels = page.evaluate(
        "[...document.querySelectorAll('#detail .log-row')].map(r => r.cells[1].textContent)"
    )
    assert levels == ["INFO", "WARNING"]


def test_hostile_log_message_is_shown_as_text_and_never_runs(
    page: Browser, store: ViewerStore
) -> None:
    """Markup in a log message and in a dimension appears verbatim; no element is created from
    it and its script never runs."""
    page.click(f"#invocation-list tr[data-invocation-id={_js(store.hostile_id)}]")
    page.wait_for(
        f"document.getElementById('detail').dataset.invocationId === {_js(store.hostile_id)}"
    )
    shown = page.evaluate("document.querySelector('#detail .log-row .message').textContent")
    assert shown == HOSTILE_MESSAGE
    fields = page.evaluate("document.querySelector('#detail .log-row .fields').textContent")
    assert fields == f"note={HOSTILE_DIMENSION}"
    created = page.evaluate(
        "document.querySelectorAll('img, script:not([src]), svg[onload], [onerror]').length"
    )
    assert created == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # The page itself never trips its Content-Security-Policy (no inline code of its own).
    assert not [line for line in page.console if "Content Security Policy" in line]


def test_zoom_and_pan_change_the_time_window(page: Browser, store: ViewerStore) -> None:
    """The + button and the wheel zoom in (bars widen, following stops); dragging pans by the
    distance dragged; Fit shows everything again."""
    fit(page)
    report = next(r for r in store.workload.invocations if r.function_name == "SlowReport")
    geometry = (
        f"(() => {{ const e = document.querySelector({_js(_bar(report.invocation_id))});"
        " return e ? {x: +e.getAttribute('x'), width: +e.getAttribute('width')} : null; })()"
    )
    before = page.evaluate(geometry)
    page.click("#zoom-in")
    page.wait_for(f"{geometry}.width > {before['width']} * 1.8")
    assert page.evaluate("document.getElementById('follow').checked") is False
    zoomed = page.evaluate(geometry)
    # Wheel and drag over the pool panel, above the report's bar, so it stays in view.
    page.evaluate("window.scrollTo(0, 0)")
    box = page.evaluate(
        f"(() => {{ const r = document.querySelector({_js(_bar(report.invocation_id))})"
        ".getBoundingClientRect(); const s = document.querySelector('#timeline svg')"
        ".getBoundingClientRect(); const left = Math.max(r.left, s.left + 190);"
        " const right = Math.min(r.right, s.right - 20);"
        " return {x: (left + right) / 2, y: s.top + 50}; })()"
    )
    page.call(
        "Input.dispatchMouseEvent",
        {"type": "mouseWheel", "x": box["x"], "y": box["y"], "deltaX": 0, "deltaY": -120},
        session=True,
    )
    page.wait_for(f"{geometry}.width > {zoomed['width']} * 1.1")
    ticks = (
        "Object.fromEntries([...document.querySelectorAll('#timeline g.axis text')]"
        ".map(t => [t.textContent, +t.getAttribute('x')]))"
    )
    start = page.evaluate(ticks)
    for kind, x in (
        ("mousePressed", box["x"]),
        ("mouseMoved", box["x"] - 100),
        ("mouseMoved", box["x"] - 200),
        ("mouseReleased", box["x"] - 200),
    ):
        page.call(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": box["y"], "button": "left", "buttons": 1, "clickCount": 1},
            session=True,
        )
    page.wait_for(f"JSON.stringify({ticks}) !== {_js(json.dumps(start, separators=(',', ':')))}")
    moved = page.evaluate(ticks)
    shifts = [moved[label] - start[label] for label in start if label in moved]
    assert shifts
    assert all(abs(shift + 200) < 2 for shift in shifts)
    fit(page)
    page.wait_for(f"Math.abs({geometry}.width - {before['width']}) < 0.5")


@pytest.mark.parametrize(
    ("kql", "chart", "marks"),
    [
        (
            "requests | summarize n = count() by name | render piechart",
            "piechart",
            "path.chart-slice",
        ),
        (
            "requests | summarize n = count(), worst = max(duration) by name | render barchart",
            "barchart",
            "rect.chart-bar",
        ),
        (
            "customMetrics | where name == 'azfunc_inflight_sync'"
            " | summarize peak = max(value) by bin(timestamp, 1s) | render timechart",
            "timechart",
            "path.chart-series",
        ),
    ],
)
def test_kql_box_draws_tables_and_charts(
    page: Browser, store: ViewerStore, kql: str, chart: str, marks: str
) -> None:
    """A query's rows fill the table and its render kind is drawn as that chart."""
    runs = page.evaluate("Number(document.body.dataset.queries || 0)")
    page.evaluate(f"document.getElementById('kql').value = {_js(kql)}")
    page.click("#run-query")
    page.wait_for(f"Number(document.body.dataset.queries || 0) > {runs}")
    header = page.evaluate(
        "[...document.querySelectorAll('#query-results th')].map(h => h.textContent)"
    )
    assert header[0] in ("name", "timestamp")
    rows = page.evaluate("document.querySelectorAll('#query-results tbody tr').length")
    assert rows > 0
    assert page.evaluate("document.querySelector('#query-chart svg').dataset.chart") == chart
    drawn = page.evaluate(f"document.querySelectorAll('#query-chart {marks}').length")
    if chart == "piechart":
        assert drawn == len(store.workload.counts()) + 1  # the demo's functions and Hostile
    elif chart == "barchart":
        assert drawn == 2 * rows
    else:
        assert drawn == 1


def test_kql_box_shows_errors_as_text(page: Browser) -> None:
    """A query the engine rejects shows its message, and the table stays empty."""
    page.evaluate("document.getElementById('kql').value = 'traces | where <b>'")
    page.click("#run-query")
    error = page.wait_for(
        "!document.getElementById('query-error').hidden &&"
        " document.getElementById('query-error').textContent"
    )
    assert error
    assert page.evaluate("document.querySelectorAll('#query-error b').length") == 0


def test_screenshot(page: Browser, store: ViewerStore, tmp_path: Path) -> None:
    """The page renders to a PNG (the README's picture is taken this way)."""
    fit(page)
    click_bar(page, store.workload.showcase_invocation_id)
    page.wait_for("document.querySelectorAll('#detail .log-row').length === 6")
    fit(page)
    page.evaluate("window.scrollTo(0, 0)")
    target = tmp_path / "viewer.png"
    page.screenshot(str(target))
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    copy = os.environ.get(SCREENSHOT_ENV)
    if copy:
        Path(copy).write_bytes(data)


def test_page_refreshes_as_telemetry_arrives(page: Browser, store: ViewerStore) -> None:
    """A new invocation stored while the page is open appears in the list and on the timeline
    without a reload."""
    fit(page)
    before = page.evaluate("document.querySelectorAll('#invocation-list tbody tr').length")
    new_id = run_invocation(store.path, hostile, "Hostile", req=hostile_request())
    row = f"#invocation-list tr[data-invocation-id={_js(new_id)}]"
    page.wait_for(
        f"document.querySelector({_js(row)}) !== null"
        f" && document.querySelector({_js(_bar(new_id))}) !== null",
        timeout_s=60,
    )
    assert (
        page.evaluate("document.querySelectorAll('#invocation-list tbody tr').length") == before + 1
    )


def test_host_shaped_store_draws_the_same_timeline(
    chromium: str, store: ViewerStore, tmp_path: Path
) -> None:
    """With our items as InProc dependencies under host requests, the page draws the same bars
    and the drill-down shows the host's request dimensions."""
    shaped = copy_in_shape(store.path, tmp_path / "host.db", "dependency")
    expected = {item.invocation_id for item in load_invocations(str(shaped))}
    with ViewerServer(shaped, port=0) as served, Browser(chromium) as browser:
        browser.navigate(served.url)
        browser.wait_for(
            f"document.querySelectorAll('#timeline rect.bar').length === {len(expected)}"
        )
        ids = browser.evaluate(
            "[...document.querySelectorAll('#timeline rect.bar')].map(b => b.dataset.invocationId)"
        )
        assert set(ids) == expected
        showcase = store.workload.showcase_invocation_id
        click_bar(browser, showcase)
        browser.wait_for("document.querySelectorAll('#detail .log-row').length === 6")
        headings = browser.evaluate(
            "[...document.querySelectorAll('#detail h3')].map(h => h.textContent)"
        )
        assert "Host request dimensions" in headings
        host = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#detail table.host-dimensions"
            " tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent]))"
        )
        assert host["InvocationId"] == showcase


def test_browser_errors_are_reported() -> None:
    """The driver's error type is a RuntimeError, so a broken page fails a test loudly."""
    assert issubclass(BrowserError, RuntimeError)


def test_several_worker_processes_get_lanes_of_their_own(
    chromium: str, store: ViewerStore, tmp_path: Path
) -> None:
    """Thread names repeat in each worker process: with two processes every lane names its
    process, each bar sits in its own process's lane, and the pool size is the pools' sum."""
    two = copy_as_two_processes(store.path, tmp_path / "two.db", "99999")
    expected = {item.invocation_id: item for item in load_invocations(str(two))}
    assert {item.process_id for item in expected.values()} == {str(os.getpid()), "99999"}
    with ViewerServer(two, port=0) as served, Browser(chromium) as browser:
        browser.navigate(served.url)
        browser.wait_for(
            f"document.querySelectorAll('#timeline rect.bar').length === {len(expected)}"
        )
        bars = browser.evaluate(
            "[...document.querySelectorAll('#timeline rect.bar')]"
            ".map(b => [b.dataset.invocationId, b.dataset.lane])"
        )
        for invocation_id, lane in bars:
            item = expected[invocation_id]
            assert lane.startswith(f"pid {item.process_id} · ")
            assert lane.endswith(str(item.thread_name))
        lanes = browser.evaluate(
            "[...document.querySelectorAll('#timeline text.lane-label[data-lane]')]"
            ".map(t => t.dataset.lane)"
        )
        assert len(lanes) == len(set(lanes)) == len({lane for _, lane in bars})
        assert (
            browser.evaluate(
                "document.querySelector('#timeline line.pool-size-line').dataset.poolSize"
            )
            == "8"
        )
