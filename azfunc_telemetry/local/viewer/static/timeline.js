// The concurrency timeline: one lane per pool thread and per event loop, one bar per
// invocation, the wait for a thread as a hatched strip under the bar, the pool's load above.
import { svg, clear, clockTime, niceTicks, formatNumber } from "./dom.js";

const LABEL_WIDTH = 180;
const RIGHT_PAD = 12;
const AXIS_HEIGHT = 22;
const POOL_HEIGHT = 58;
const LANE_HEIGHT = 26;
const BAR_TOP = 3;
const BAR_HEIGHT = 14;
const WAIT_TOP = 19;
const WAIT_HEIGHT = 5;
// Async invocations overlap on their loop: the loop's lane stacks them in thin rows.
const LOOP_ROW = 9;
const LOOP_MAX_ROWS = 8;

function naturalKey(name) {
  return String(name).replace(/\d+/g, (digits) => digits.padStart(8, "0"));
}

// Whether the invocations come from several worker processes, whose thread names repeat.
let severalProcesses = false;

// Lanes: the pool's threads in order, then each event loop; per process when there are several.
export function laneOf(invocation) {
  if (!invocation.thread_name) return null;
  const process = severalProcesses && invocation.process_id ? `pid ${invocation.process_id} · ` : "";
  if (invocation.execution_mode === "async") return `${process}event loop: ${invocation.thread_name}`;
  return `${process}${invocation.thread_name}`;
}

function noteProcesses(invocations) {
  severalProcesses = new Set(invocations.map((item) => item.process_id).filter(Boolean)).size > 1;
}

function lanesFor(invocations) {
  const threads = new Set();
  const loops = new Set();
  for (const item of invocations) {
    const lane = laneOf(item);
    if (lane === null) continue;
    (item.execution_mode === "async" ? loops : threads).add(lane);
  }
  const byName = (a, b) => naturalKey(a).localeCompare(naturalKey(b));
  return [...[...threads].sort(byName), ...[...loops].sort(byName)];
}

// Where each lane starts and how tall it is; which row of its lane each async invocation takes.
function layout(lanes, invocations, top) {
  const rowsByLane = new Map(lanes.map((lane) => [lane, []]));
  const rowOf = new Map();
  const sorted = invocations.filter((item) => item.execution_mode === "async" && laneOf(item))
    .sort((a, b) => a.start_ms - b.start_ms);
  for (const item of sorted) {
    const ends = rowsByLane.get(laneOf(item));
    let row = ends.findIndex((end) => end <= item.start_ms);
    if (row < 0) row = ends.length < LOOP_MAX_ROWS ? ends.push(0) - 1 : ends.indexOf(Math.min(...ends));
    ends[row] = item.start_ms + item.duration_ms;
    rowOf.set(item.invocation_id, row);
  }
  const laneTop = new Map();
  const laneHeight = new Map();
  let y = top;
  for (const lane of lanes) {
    const rows = rowsByLane.get(lane).length;
    const height = rows > 1 ? Math.max(LANE_HEIGHT, rows * LOOP_ROW + 6) : LANE_HEIGHT;
    laneTop.set(lane, y);
    laneHeight.set(lane, height);
    y += height;
  }
  return { laneTop, laneHeight, rowOf, bottom: y };
}

// Sync invocations running and waiting over time, and the stretches where a pool was
// saturated: all its threads busy and work waiting for one. Each worker process has a pool of
// its own; the panel shows their sum against the sum of their sizes.
function sweep(items) {
  const events = [];
  let poolSize = 0;
  for (const item of items) {
    events.push([item.start_ms, 1, 0], [item.start_ms + item.duration_ms, -1, 0]);
    if (item.pool_wait_ms > 0) events.push([item.start_ms - item.pool_wait_ms, 0, 1], [item.start_ms, 0, -1]);
    if (item.pool_size) poolSize = Math.max(poolSize, item.pool_size);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const steps = [];
  const saturated = [];
  let running = 0;
  let waiting = 0;
  let openSince = null;
  for (let index = 0; index < events.length; index += 1) {
    const [time, run, wait] = events[index];
    running += run;
    waiting += wait;
    if (index + 1 < events.length && events[index + 1][0] === time) continue;
    steps.push({ time, running, waiting });
    const full = poolSize > 0 && running >= poolSize && waiting > 0;
    if (full && openSince === null) openSince = time;
    if (!full && openSince !== null) {
      saturated.push([openSince, time]);
      openSince = null;
    }
  }
  return { steps, saturated, poolSize };
}

export function poolLoad(invocations) {
  const sync = invocations.filter((item) => item.execution_mode === "sync" && item.thread_name);
  const byProcess = new Map();
  for (const item of sync) {
    const key = item.process_id || "";
    if (!byProcess.has(key)) byProcess.set(key, []);
    byProcess.get(key).push(item);
  }
  const pools = [...byProcess.values()].map(sweep);
  return {
    steps: sweep(sync).steps,
    saturated: pools.flatMap((pool) => pool.saturated),
    poolSize: pools.reduce((sum, pool) => sum + pool.poolSize, 0),
  };
}

export class Timeline {
  constructor(container, { colourOf, onSelect }) {
    this.container = container;
    this.colourOf = colourOf;
    this.onSelect = onSelect;
    this.invocations = [];
    this.view = null;
    this.selected = null;
    this.follow = true;
    this.onUserMove = () => {};
    this.drag = null;
    this.lanes = [];
    this.load = poolLoad([]);
    this.places = null;
    this.placesFor = null;
    this.pending = false;
    this.followDrags();
  }

  extent() {
    let low = Infinity;
    let high = -Infinity;
    for (const item of this.invocations) {
      if (!laneOf(item)) continue;
      low = Math.min(low, item.start_ms - (item.pool_wait_ms || 0));
      high = Math.max(high, item.start_ms + item.duration_ms);
    }
    if (!Number.isFinite(low)) return null;
    const pad = Math.max((high - low) * 0.02, 5);
    return [low - pad, high + pad];
  }

  update(invocations) {
    this.invocations = invocations;
    noteProcesses(invocations);
    // Lanes and the pool's load depend on the data only: worked out once, not on every zoom.
    this.lanes = lanesFor(invocations);
    this.load = poolLoad(invocations);
    if (this.follow || !this.view) this.view = this.extent();
    this.draw();
  }

  fit() {
    this.view = this.extent();
    this.draw();
  }

  // Wheel and drag events come faster than frames: draw at most once per frame.
  scheduleDraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  select(invocationId) {
    this.selected = invocationId;
    for (const bar of this.container.querySelectorAll("rect.bar")) {
      bar.classList.toggle("selected", bar.dataset.invocationId === invocationId);
    }
  }

  zoom(factor, anchorFraction = 0.5) {
    if (!this.view) return;
    const [low, high] = this.view;
    const span = Math.max((high - low) * factor, 1);
    const anchor = low + (high - low) * anchorFraction;
    this.view = [anchor - span * anchorFraction, anchor + span * (1 - anchorFraction)];
    this.userMoved();
  }

  pan(fraction) {
    if (!this.view) return;
    const [low, high] = this.view;
    const shift = (high - low) * fraction;
    this.view = [low + shift, high + shift];
    this.userMoved();
  }

  userMoved() {
    this.follow = false;
    this.onUserMove();
    this.scheduleDraw();
  }

  draw() {
    clear(this.container);
    const lanes = this.lanes || [];
    if (!this.view || lanes.length === 0) {
      this.container.append(
        Object.assign(document.createElement("p"), {
          className: "muted hint",
          textContent: "No invocations with thread information yet.",
        }),
      );
      return;
    }
    const width = Math.max(this.container.clientWidth || 900, 400);
    const plotWidth = width - LABEL_WIDTH - RIGHT_PAD;
    const lanesTop = AXIS_HEIGHT + POOL_HEIGHT + 6;
    if (!this.places || this.placesFor !== this.invocations) {
      this.places = layout(lanes, this.invocations, lanesTop);
      this.placesFor = this.invocations;
    }
    const places = this.places;
    const height = places.bottom + 4;
    const [low, high] = this.view;
    const x = (time) => LABEL_WIDTH + ((time - low) / (high - low)) * plotWidth;
    const root = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "Concurrency timeline", "data-lanes": lanes.length,
    });
    root.append(this.defs());
    const plot = svg("g", { "clip-path": "url(#plot-clip)" });
    const load = this.load;

    // Lane backgrounds and labels.
    lanes.forEach((lane, index) => {
      const top = places.laneTop.get(lane);
      if (index % 2) root.append(svg("rect", { x: 0, y: top, width, height: places.laneHeight.get(lane), class: "lane-bg-odd" }));
      // Long thread names are cut to fit the label column; the tooltip has the whole name.
      const shown = lane.length > 27 ? `${lane.slice(0, 26)}…` : lane;
      root.append(svg("text", { x: 6, y: top + 15, class: "lane-label", "data-lane": lane, text: shown },
        svg("title", { text: lane })));
    });
    // Saturated stretches across the pool panel and the lanes.
    for (const [from, to] of load.saturated) {
      plot.append(svg("rect", {
        class: "saturated", x: x(from), y: AXIS_HEIGHT, width: Math.max(x(to) - x(from), 1),
        height: height - AXIS_HEIGHT,
      }, svg("title", { text: `pool saturated ${clockTime(from)} – ${clockTime(to)}` })));
    }
    root.append(this.axis(low, high, plotWidth, height, x));
    this.drawPool(root, plot, load, x, low, high);
    // Bars and waits.
    for (const item of this.invocations) {
      const lane = laneOf(item);
      if (lane === null) continue;
      const end = item.start_ms + item.duration_ms;
      const waitStart = item.start_ms - (item.pool_wait_ms || 0);
      if (end < low || waitStart > high) continue;
      const top = places.laneTop.get(lane);
      const row = places.rowOf.get(item.invocation_id);
      const stacked = row !== undefined && places.laneHeight.get(lane) > LANE_HEIGHT;
      const barTop = stacked ? top + 3 + row * LOOP_ROW : top + BAR_TOP;
      const barHeight = stacked ? LOOP_ROW - 2 : BAR_HEIGHT;
      const colour = this.colourOf(item.function_name);
      if (item.pool_wait_ms > 0) {
        plot.append(svg("rect", {
          class: "wait", x: x(waitStart), y: top + WAIT_TOP,
          width: Math.max(x(item.start_ms) - x(waitStart), 1), height: WAIT_HEIGHT,
          fill: "url(#wait-hatch)", "data-invocation-id": item.invocation_id, "data-lane": lane,
        }, svg("title", { text: `${item.function_name} waited ${formatNumber(item.pool_wait_ms)} ms for a thread` })));
      }
      const bar = svg("rect", {
        class: `bar${item.success === false ? " failed" : ""}${item.invocation_id === this.selected ? " selected" : ""}`,
        x: x(item.start_ms), y: barTop, width: Math.max(x(end) - x(item.start_ms), 1.5),
        height: barHeight, rx: 2, fill: colour,
        "data-invocation-id": item.invocation_id, "data-lane": lane, "data-function": item.function_name,
      }, svg("title", {
        text: `${item.function_name} · ${formatNumber(item.duration_ms)} ms · ${lane}` +
          (item.pool_wait_ms > 0 ? ` · waited ${formatNumber(item.pool_wait_ms)} ms` : "") +
          (item.success === false ? " · failed" : ""),
      }));
      bar.addEventListener("click", () => this.onSelect(item.invocation_id));
      plot.append(bar);
      if (item.pool_saturated) {
        const mx = x(item.start_ms);
        plot.append(svg("path", {
          class: "saturated-mark", d: `M${mx - 4},${AXIS_HEIGHT + POOL_HEIGHT} l4,6 l4,-6 z`,
          "data-invocation-id": item.invocation_id,
        }, svg("title", { text: `${item.function_name} started with the pool saturated` })));
      }
    }
    root.append(plot);
    this.attachGestures(root, plotWidth);
    this.container.append(root);
  }

  defs() {
    return svg("defs", {},
      svg("clipPath", { id: "plot-clip" },
        svg("rect", { x: LABEL_WIDTH, y: 0, width: 100000, height: 100000 })),
      svg("pattern", { id: "wait-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
        patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: "#fbd38d" }),
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#c05621", "stroke-width": 3 })));
  }

  axis(low, high, plotWidth, height, x) {
    const group = svg("g", { class: "axis" });
    const ticks = niceTicks(low, high, Math.max(2, Math.floor(plotWidth / 110)));
    for (const tick of ticks) {
      const px = x(tick);
      if (px < LABEL_WIDTH || px > LABEL_WIDTH + plotWidth) continue;
      group.append(svg("line", { x1: px, x2: px, y1: AXIS_HEIGHT - 4, y2: height }));
      group.append(svg("text", { x: px + 3, y: 13, class: "axis-label", text: clockTime(tick) }));
    }
    return group;
  }

  drawPool(root, plot, load, x, low, high) {
    const top = AXIS_HEIGHT + 4;
    const bottom = AXIS_HEIGHT + POOL_HEIGHT - 2;
    const peak = Math.max(load.poolSize, ...load.steps.map((s) => s.running + s.waiting), 1);
    const y = (count) => bottom - (count / peak) * (bottom - top);
    root.append(svg("text", { x: 6, y: top + 12, class: "lane-label", text: "pool: running + waiting" }));
    if (load.steps.length) {
      let running = `M${x(low)},${y(0)}`;
      let waiting = `M${x(low)},${y(0)}`;
      for (const step of load.steps) {
        running += ` H${x(step.time)} V${y(step.running)}`;
        waiting += ` H${x(step.time)} V${y(step.running + step.waiting)}`;
      }
      running += ` H${x(high)}`;
      waiting += ` H${x(high)}`;
      // The waiting area sits on top of the running line: its height above it is the backlog.
      plot.append(svg("path", { class: "waiting-area", d: `${waiting} V${y(0)} Z` }));
      plot.append(svg("path", { class: "running-line", d: running }));
    }
    if (load.poolSize > 0) {
      plot.append(svg("line", {
        class: "pool-size-line", x1: LABEL_WIDTH, x2: x(high) + 10000, y1: y(load.poolSize),
        y2: y(load.poolSize), "data-pool-size": load.poolSize,
      }));
      root.append(svg("text", { x: 6, y: y(load.poolSize) + 4, class: "lane-label axis-label",
        text: `pool size ${load.poolSize}` }));
    }
  }

  attachGestures(root, plotWidth) {
    root.addEventListener("wheel", (event) => {
      event.preventDefault();
      const bounds = root.getBoundingClientRect();
      const fraction = Math.min(Math.max((event.clientX - bounds.left - LABEL_WIDTH) / plotWidth, 0), 1);
      this.zoom(event.deltaY > 0 ? 1.25 : 0.8, fraction);
    }, { passive: false });
    root.addEventListener("pointerdown", (event) => {
      if (event.target.classList.contains("bar")) return;
      this.drag = { x: event.clientX, view: this.view, plotWidth };
      root.classList.add("dragging");
    });
  }

  // Dragging outlives each redraw's <svg>, so it is followed on the window.
  followDrags() {
    window.addEventListener("pointermove", (event) => {
      if (!this.drag) return;
      const [low, high] = this.drag.view;
      const shift = ((this.drag.x - event.clientX) / this.drag.plotWidth) * (high - low);
      if (Math.abs(this.drag.x - event.clientX) < 2) return;
      this.view = [low + shift, high + shift];
      this.userMoved();
    });
    window.addEventListener("pointerup", () => {
      this.drag = null;
    });
  }
}
