// Charts for the KQL box's `render` results, drawn as SVG: time/line/area charts, bar
// (horizontal) and column (vertical) charts, and pie charts.
import { svg, clear, colourFor, niceTicks, formatNumber, clockTime } from "./dom.js";

const WIDTH = 860;
const HEIGHT = 300;
const MARGIN = { left: 60, right: 170, top: 14, bottom: 30 };

function columnsOf(answer, type) {
  return answer.types.map((t, i) => (t === type ? i : -1)).filter((i) => i >= 0);
}

function label(value) {
  return value === null || value === undefined || value === "" ? "(empty)" : String(value);
}

function legend(root, names, paint = (name, index) => colourFor(index)) {
  names.forEach((name, index) => {
    const y = MARGIN.top + 6 + index * 16;
    if (y > HEIGHT - 10) return;
    root.append(svg("rect", { x: WIDTH - MARGIN.right + 14, y: y - 8, width: 10, height: 10, fill: paint(name, index) }));
    root.append(svg("text", { x: WIDTH - MARGIN.right + 30, y: y + 1, class: "legend-label", text: name }));
  });
}

function frame(kind) {
  return svg("svg", { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img", "aria-label": `${kind} of the query result`, "data-chart": kind });
}

function valueAxis(root, low, high, toPixel, vertical) {
  for (const tick of niceTicks(low, high, 5)) {
    const p = toPixel(tick);
    if (vertical) {
      root.append(svg("line", { class: "grid-line", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: p, y2: p }));
      root.append(svg("text", { x: MARGIN.left - 6, y: p + 4, "text-anchor": "end", class: "axis-label", text: formatNumber(tick, 2) }));
    } else {
      root.append(svg("line", { class: "grid-line", y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, x1: p, x2: p }));
      root.append(svg("text", { y: HEIGHT - MARGIN.bottom + 14, x: p, "text-anchor": "middle", class: "axis-label", text: formatNumber(tick, 2) }));
    }
  }
}

// Series of (x, y) points: one per numeric column, or one per value of a string column
// (Kusto's long shape: time, name, value).
function seriesOf(answer, xIndex) {
  const numeric = columnsOf(answer, "number").filter((i) => i !== xIndex);
  const strings = columnsOf(answer, "string");
  const toX = (value) => (answer.types[xIndex] === "datetime" ? Date.parse(value) : Number(value));
  const series = new Map();
  for (const row of answer.rows) {
    if (row[xIndex] === null) continue;
    const xValue = toX(row[xIndex]);
    for (const valueIndex of numeric) {
      const key = strings.length
        ? `${label(row[strings[0]])}${numeric.length > 1 ? ` · ${answer.columns[valueIndex]}` : ""}`
        : answer.columns[valueIndex];
      if (!series.has(key)) series.set(key, []);
      if (row[valueIndex] !== null) series.get(key).push([xValue, Number(row[valueIndex])]);
    }
  }
  for (const points of series.values()) points.sort((a, b) => a[0] - b[0]);
  return series;
}

function lineChart(answer, kind) {
  const dates = columnsOf(answer, "datetime");
  const xIndex = dates.length ? dates[0] : columnsOf(answer, "number")[0];
  if (xIndex === undefined) return null;
  const series = seriesOf(answer, xIndex);
  const points = [...series.values()].flat();
  if (!points.length) return null;
  const root = frame(kind);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys, 1)];
  const px = (v) => MARGIN.left + ((v - x0) / (x1 - x0 || 1)) * (WIDTH - MARGIN.left - MARGIN.right);
  const py = (v) => HEIGHT - MARGIN.bottom - ((v - y0) / (y1 - y0 || 1)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  valueAxis(root, y0, y1, py, true);
  const isTime = answer.types[xIndex] === "datetime";
  for (const tick of niceTicks(x0, x1, 6)) {
    root.append(svg("text", { x: px(tick), y: HEIGHT - 10, "text-anchor": "middle", class: "axis-label",
      text: isTime ? clockTime(tick) : formatNumber(tick, 2) }));
  }
  [...series.entries()].forEach(([name, line], index) => {
    const d = line.map(([a, b], i) => `${i ? "L" : "M"}${px(a)},${py(b)}`).join(" ");
    if (kind === "areachart" && line.length) {
      root.append(svg("path", { d: `${d} L${px(line[line.length - 1][0])},${py(y0)} L${px(line[0][0])},${py(y0)} Z`,
        fill: colourFor(index), "fill-opacity": 0.2 }));
    }
    root.append(svg("path", { class: "series-line chart-series", d, stroke: colourFor(index), "data-series": name },
      svg("title", { text: name })));
  });
  legend(root, [...series.keys()]);
  return root;
}

function categories(answer) {
  const strings = columnsOf(answer, "string");
  const categoryIndex = strings.length ? strings[0] : 0;
  const values = columnsOf(answer, "number").filter((i) => i !== categoryIndex);
  return { categoryIndex, values };
}

function barChart(answer, kind) {
  const { categoryIndex, values } = categories(answer);
  if (!values.length || !answer.rows.length) return null;
  const rows = answer.rows.slice(0, 40);
  const root = frame(kind);
  const all = rows.flatMap((row) => values.map((i) => Number(row[i]) || 0));
  const [low, high] = [Math.min(0, ...all), Math.max(...all, 1)];
  const horizontal = kind === "barchart";
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const band = (horizontal ? plotH : plotW) / rows.length;
  const inner = (band * 0.8) / values.length;
  const scale = (v) => ((v - low) / (high - low || 1)) * (horizontal ? plotW : plotH);
  if (horizontal) valueAxis(root, low, high, (v) => MARGIN.left + scale(v), false);
  else valueAxis(root, low, high, (v) => HEIGHT - MARGIN.bottom - scale(v), true);
  rows.forEach((row, r) => {
    const name = label(row[categoryIndex]);
    values.forEach((valueIndex, s) => {
      const value = Number(row[valueIndex]) || 0;
      const offset = band * 0.1 + s * inner;
      const attrs = horizontal
        ? { x: MARGIN.left + scale(Math.min(0, value)), y: MARGIN.top + r * band + offset,
          width: Math.abs(scale(value) - scale(0)), height: inner }
        : { x: MARGIN.left + r * band + offset, y: HEIGHT - MARGIN.bottom - scale(Math.max(0, value)),
          width: inner, height: Math.abs(scale(value) - scale(0)) };
      root.append(svg("rect", { ...attrs, class: "chart-bar", fill: colourFor(s), "data-category": name },
        svg("title", { text: `${name} · ${answer.columns[valueIndex]}: ${formatNumber(value, 3)}` })));
    });
    const text = name.length > 22 ? `${name.slice(0, 21)}…` : name;
    if (horizontal) {
      root.append(svg("text", { x: MARGIN.left - 4, y: MARGIN.top + r * band + band / 2 + 4,
        "text-anchor": "end", class: "axis-label", text }));
    } else {
      root.append(svg("text", { x: MARGIN.left + r * band + band / 2, y: HEIGHT - 10,
        "text-anchor": "middle", class: "axis-label", text }));
    }
  });
  legend(root, values.map((i) => answer.columns[i]));
  return root;
}

function pieChart(answer, paint) {
  const { categoryIndex, values } = categories(answer);
  if (!values.length) return null;
  const slices = answer.rows.map((row) => [label(row[categoryIndex]), Math.max(Number(row[values[0]]) || 0, 0)])
    .filter(([, value]) => value > 0);
  const total = slices.reduce((sum, [, value]) => sum + value, 0);
  if (!total) return null;
  const root = frame("piechart");
  const cx = (WIDTH - MARGIN.right) / 2;
  const cy = HEIGHT / 2;
  const r = HEIGHT / 2 - 20;
  let angle = -Math.PI / 2;
  slices.forEach(([name, value], index) => {
    const sweep = (value / total) * Math.PI * 2;
    const end = angle + sweep;
    const large = sweep > Math.PI ? 1 : 0;
    const d = slices.length === 1
      ? `M${cx - r},${cy} a${r},${r} 0 1,0 ${2 * r},0 a${r},${r} 0 1,0 ${-2 * r},0`
      : `M${cx},${cy} L${cx + r * Math.cos(angle)},${cy + r * Math.sin(angle)} ` +
        `A${r},${r} 0 ${large},1 ${cx + r * Math.cos(end)},${cy + r * Math.sin(end)} Z`;
    root.append(svg("path", { d, fill: paint(name, index), stroke: "#fff", class: "chart-slice", "data-category": name },
      svg("title", { text: `${name}: ${formatNumber(value, 3)} (${formatNumber((value / total) * 100)} %)` })));
    angle = end;
  });
  legend(root, slices.map(([name]) => name), paint);
  return root;
}

// `paint(name, index)` colours a pie's slices, so a function keeps its timeline colour.
export function drawChart(container, answer, paint = (name, index) => colourFor(index)) {
  clear(container);
  if (!answer.chart) return false;
  let chart = null;
  if (["timechart", "linechart", "areachart"].includes(answer.chart)) chart = lineChart(answer, answer.chart);
  else if (["barchart", "columnchart"].includes(answer.chart)) chart = barChart(answer, answer.chart);
  else if (answer.chart === "piechart") chart = pieChart(answer, paint);
  if (chart) container.append(chart);
  return Boolean(chart);
}
