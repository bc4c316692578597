// Building the page from data without ever parsing data as markup: every string a user's
// telemetry carries (log messages, names, dimensions) goes into the document as a text node.
const SVG_NS = "http://www.w3.org/2000/svg";

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttributes(node, attributes);
  append(node, children);
  return node;
}

function setAttributes(node, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", String(value));
    else if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) throw new Error("event handlers are added with addEventListener");
    else node.setAttribute(name, String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// Colours for functions and chart series: distinct, readable on white.
export const PALETTE = [
  "#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568",
  "#e53e3e", "#3182ce", "#68d391", "#f6ad55",
];

export function colourFor(index) {
  return PALETTE[index % PALETTE.length];
}

const pad = (number, width = 2) => String(number).padStart(width, "0");

export function clockTime(ms) {
  const moment = new Date(ms);
  return `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}` +
    `.${pad(moment.getMilliseconds(), 3)}`;
}

export function formatNumber(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits });
}

// Ticks at a round step (1, 2 or 5 times a power of ten) so that about `count` fit.
export function niceTicks(low, high, count) {
  const span = high - low;
  if (!(span > 0)) return [low];
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push(tick);
  }
  return ticks;
}
