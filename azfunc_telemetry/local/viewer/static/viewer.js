// The viewer page: polls the local server, lists invocations, draws the timeline, shows one
// invocation's detail and runs the KQL box. All data goes into the page as text.
import { el, clear, colourFor, clockTime, formatNumber } from "./dom.js";
import { Timeline, laneOf } from "./timeline.js";
import { drawChart } from "./chart.js";

const POLL_MS = 2000;
const state = { version: null, invocations: [], functions: [], selected: null };
const $ = (id) => document.getElementById(id);

function colourOf(functionName) {
  let index = state.functions.indexOf(functionName);
  if (index < 0) index = state.functions.push(functionName) - 1;
  return colourFor(index);
}

const timeline = new Timeline($("timeline"), { colourOf, onSelect: (id) => select(id) });
timeline.onUserMove = () => { $("follow").checked = false; };

async function getJson(url, options) {
  const response = await fetch(url, { cache: "no-store", ...options });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function setStatus(text) {
  $("status").textContent = text;
}

let refreshing = false;

async function refresh() {
  // One refresh at a time: a slow store must not pile up overlapping requests.
  if (refreshing) return;
  refreshing = true;
  try {
    const { version } = await getJson("api/version");
    if (version !== state.version) {
      const body = await getJson("api/invocations");
      state.version = body.version;
      state.invocations = body.invocations;
      for (const name of [...new Set(body.invocations.map((i) => i.function_name))].sort()) colourOf(name);
      renderList();
      renderLegend();
      timeline.update(state.invocations);
      // Records of the invocation on show may still have been arriving.
      if (state.selected) showDetail(state.selected);
      document.body.dataset.version = state.version;
    }
    setStatus(`updated ${clockTime(Date.now())}`);
  } catch (error) {
    setStatus(`waiting for telemetry: ${error.message}`);
  } finally {
    refreshing = false;
  }
}

function statusCell(item) {
  if (item.success === false) return el("td", { class: "status-failed", text: `failed (${item.result_code ?? "?"})` });
  if (item.success === true) return el("td", { class: "status-ok", text: `ok (${item.result_code ?? ""})` });
  return el("td", { text: item.result_code ?? "" });
}

function renderList() {
  const body = $("invocation-list").tBodies[0];
  clear(body);
  const newestFirst = [...state.invocations].reverse();
  for (const item of newestFirst) {
    const row = el("tr", { "data-invocation-id": item.invocation_id, class: item.invocation_id === state.selected ? "selected" : "" },
      el("td", {}, el("span", { class: "swatch", "data-colour": colourOf(item.function_name) }), item.function_name),
      el("td", { text: clockTime(item.start_ms) }),
      el("td", { class: "num", text: formatNumber(item.duration_ms) }),
      statusCell(item),
      el("td", { text: item.cold_start === true ? "yes" : item.cold_start === false ? "no" : "" }),
      el("td", { class: "num", text: item.pool_wait_ms === null ? "" : formatNumber(item.pool_wait_ms) }),
      el("td", { text: laneOf(item) ?? "" }));
    row.addEventListener("click", () => select(item.invocation_id));
    body.append(row);
  }
  paintSwatches(body);
  $("invocation-count").textContent = `${state.invocations.length} invocations`;
}

// Swatch colours come from the palette, never from data; set through the CSSOM, which the
// Content-Security-Policy allows where inline style attributes are refused.
function paintSwatches(root) {
  for (const swatch of root.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.colour;
}

function renderLegend() {
  const legend = $("legend");
  clear(legend);
  const present = [...new Set(state.invocations.map((i) => i.function_name))].sort();
  for (const name of present) {
    legend.append(el("span", {}, el("span", { class: "swatch", "data-colour": colourOf(name) }), name));
  }
  legend.append(el("span", { class: "muted", text: "hatched: waiting for a pool thread · red: pool saturated · dashed: pool size" }));
  paintSwatches(legend);
}

function table(headers, rows, className = "grid") {
  return el("table", { class: className },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows));
}

function dimensionsTable(dimensions, className) {
  const keys = Object.keys(dimensions || {}).sort();
  return table(["dimension", "value"], keys.map((key) =>
    el("tr", {}, el("td", { text: key }), el("td", { class: "message", text: String(dimensions[key]) }))),
  `grid ${className}`);
}

function fieldsLine(fields) {
  const keys = Object.keys(fields || {}).sort();
  if (!keys.length) return null;
  return el("div", { class: "fields muted", text: keys.map((key) => `${key}=${fields[key]}`).join("  ·  ") });
}

function stackText(detail) {
  const lines = [`${detail.typeName ?? "Exception"}: ${detail.message ?? ""}`];
  const frames = [...(detail.parsedStack || [])].sort((a, b) => (b.level ?? 0) - (a.level ?? 0));
  for (const frame of frames) lines.push(`  File "${frame.fileName}", line ${frame.line}, in ${frame.method}`);
  if (!frames.length && detail.stack) lines.push(String(detail.stack));
  return lines.join("\n");
}

async function select(invocationId) {
  state.selected = invocationId;
  timeline.select(invocationId);
  for (const row of $("invocation-list").tBodies[0].rows) {
    row.classList.toggle("selected", row.dataset.invocationId === invocationId);
  }
  await showDetail(invocationId);
}

async function showDetail(invocationId) {
  const target = $("detail");
  try {
    const detail = await getJson(`api/invocation?id=${encodeURIComponent(invocationId)}`);
    if (state.selected !== invocationId) return;
    const scrolled = target.dataset.invocationId === invocationId ? target.scrollTop : 0;
    renderDetail(target, detail);
    target.scrollTop = scrolled;
  } catch (error) {
    clear(target);
    target.append(el("p", { class: "error", text: `Cannot load the invocation: ${error.message}` }));
  }
}

function renderDetail(target, detail) {
  clear(target);
  const item = detail.invocation;
  target.dataset.invocationId = item.invocation_id;
  target.append(
    el("div", { class: "summary" },
      el("strong", { text: item.function_name }),
      el("span", { class: item.success === false ? "status-failed" : "status-ok",
        text: item.success === false ? `failed (${item.result_code})` : `ok (${item.result_code ?? ""})` }),
      el("span", { text: `${formatNumber(item.duration_ms)} ms` }),
      el("span", { text: `started ${clockTime(item.start_ms)}` }),
      item.pool_wait_ms !== null ? el("span", { text: `waited ${formatNumber(item.pool_wait_ms)} ms for a thread` }) : null,
      el("span", { class: "muted", text: laneOf(item) ?? "" }),
      el("code", { class: "muted", text: item.invocation_id })));

  target.append(el("h3", { text: `Logs (${detail.logs.length})` }));
  target.append(table(["time", "level", "logger", "message"], detail.logs.map((log) =>
    el("tr", { class: "log-row" },
      el("td", { text: clockTime(Date.parse(log.time)) }),
      el("td", { class: `level-${log.level}`, text: log.level }),
      el("td", { text: log.logger }),
      el("td", {}, el("div", { class: "message", text: log.message }), fieldsLine(log.fields)))), "grid logs"));

  target.append(el("h3", { text: `Dependencies (${detail.dependencies.length})` }));
  target.append(table(["time", "name", "type", "target", "ms", "result"], detail.dependencies.map((dep) =>
    el("tr", { class: "dependency-row" },
      el("td", { text: clockTime(Date.parse(dep.time)) }),
      el("td", { class: "message", text: dep.name ?? "" }),
      el("td", { text: dep.type ?? "" }),
      el("td", { text: dep.target ?? "" }),
      el("td", { class: "num", text: formatNumber(dep.duration_ms) }),
      el("td", { class: dep.success === false ? "status-failed" : "", text: dep.result_code ?? "" })))));

  if (detail.exceptions.length) {
    target.append(el("h3", { text: `Exceptions (${detail.exceptions.length})` }));
    for (const error of detail.exceptions) {
      target.append(el("div", { class: "exception" },
        el("div", {}, el("strong", { text: error.type ?? "" }), " ", el("span", { class: "message", text: error.message ?? "" })),
        error.details.map((d) => el("pre", { class: "stack", text: stackText(d) }))));
    }
  }
  target.append(el("h3", { text: "Dimensions" }));
  target.append(dimensionsTable(detail.dimensions, "dimensions"));
  if (detail.host_dimensions) {
    target.append(el("h3", { text: "Host request dimensions" }));
    target.append(dimensionsTable(detail.host_dimensions, "host-dimensions"));
  }
}

// A chart category that names a function takes that function's colour; others follow after.
function paintCategory(name, index) {
  return state.functions.includes(name) ? colourOf(name) : colourFor(state.functions.length + index);
}

async function runQuery() {
  const query = $("kql").value;
  const status = $("query-status");
  const errorBox = $("query-error");
  status.textContent = "running…";
  errorBox.hidden = true;
  const started = performance.now();
  try {
    const answer = await getJson("api/query", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query }),
    });
    clear($("query-results"));
    clear($("query-chart"));
    if (answer.error) {
      errorBox.textContent = answer.error;
      errorBox.hidden = false;
      status.textContent = "";
      return;
    }
    const charted = drawChart($("query-chart"), answer, paintCategory);
    $("query-results").append(
      el("thead", {}, el("tr", {}, answer.columns.map((name, i) =>
        el("th", { class: answer.types[i] === "number" ? "num" : "", text: name })))),
      el("tbody", {}, answer.rows.map((row) => el("tr", {}, row.map((value, i) =>
        el("td", { class: answer.types[i] === "number" ? "num" : "message",
          text: value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value) }))))));
    const cut = answer.total_rows > answer.rows.length ? ` (first ${answer.rows.length} shown)` : "";
    status.textContent = `${answer.total_rows} rows${cut} in ${Math.round(performance.now() - started)} ms` +
      (answer.chart && !charted ? ` · nothing to draw as ${answer.chart}` : "");
    document.body.dataset.queries = String(Number(document.body.dataset.queries || 0) + 1);
  } catch (error) {
    errorBox.textContent = error.message;
    errorBox.hidden = false;
    status.textContent = "";
  }
}

$("zoom-in").addEventListener("click", () => timeline.zoom(0.5));
$("zoom-out").addEventListener("click", () => timeline.zoom(2));
$("zoom-fit").addEventListener("click", () => {
  timeline.follow = $("follow").checked;
  timeline.fit();
});
$("follow").addEventListener("change", (event) => {
  timeline.follow = event.target.checked;
  if (timeline.follow) timeline.fit();
});
$("run-query").addEventListener("click", runQuery);
$("kql").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) runQuery();
});
window.addEventListener("resize", () => timeline.draw());

getJson("api/info").then((info) => { $("store").textContent = info.db; }).catch(() => {});
refresh();
setInterval(refresh, POLL_MS);
