// The graph panels' ONE shared layout: a row per node id over all shown panels (so a node sits
// at the same height in every panel), the placement of the labels that fit those rows, and the
// small text helpers every panel module uses. This module holds the panels' only module-level
// drawing state (the current layout and an embed's fixed height); the others import it.

import d3 from "./d3.js";
import { state } from "./state.js";
import { ERROR, MORE, THRESHOLD, absOf, thresholdOf, visibleFeats } from "./panelnodes.js";

// top: a band above the first row, clear of every edge, for the output's name and value (edges
// converge on the output from both sides, so any label beside it would sit on them).
export const M = { top: 38, bottom: 14, right: 16 };
export const OUT_NAME_Y = 12; // baselines of the output's name and value in that band
export const OUT_VALUE_Y = 26;
export const OUT_R = 9;
export const MAX_WIDTH = 12;
const LABEL_GAP = 13; // px between two visible labels (12 px text)

let layout = null; // {slots: [...ids], index: Map, row, height}
let fixedHeight = null; // px: every panel's svg height (embedded mini panels), or null to fit rows

/** Fix the panels' drawing height (an embed's figure must know its height in advance). */
export function setFixedHeight(h) {
  fixedHeight = h;
}

/** The layout the last buildLayout made: {slots, index, row, height}. */
export function currentLayout() {
  return layout;
}

/** The selected circuit's family ("animal", "attribute", ...), or null. */
export function circuitFamily() {
  const c = ((state.data.model && state.data.model.circuits) || []).find((x) => x.id === state.ui.circuit);
  return c ? c.family : null;
}

/** One row per node id over all panels; grouped by kind, the strongest first within a kind. */
export function buildLayout(graphs) {
  const info = new Map();
  for (const g of graphs) {
    for (const f of visibleFeats(g)) {
      const a = absOf(f);
      const prev = info.get(f.id);
      if (!prev || a > prev.abs) info.set(f.id, { id: f.id, kind: f.kind, abs: a });
    }
  }
  const fam = circuitFamily();
  const kinds = fam === "attribute" ? ["attribute", "animal", "neuron"] : ["animal", "attribute", "neuron"];
  const kindIndex = (k) => (kinds.includes(k) ? kinds.indexOf(k) : kinds.length);
  const ids = [...info.values()]
    .sort((a, b) => kindIndex(a.kind) - kindIndex(b.kind) || b.abs - a.abs || (a.id < b.id ? -1 : 1))
    .map((d) => d.id);
  // Blank rows keep the "+N" and error labels clear of the last node's.
  const slots = [...ids, "\u0000gap1", MORE, "\u0000gap2", ERROR];
  if (graphs.some((g) => thresholdOf(g) !== null)) slots.push("\u0000gap3", THRESHOLD);
  if (fixedHeight) {
    const row = (fixedHeight - M.top - M.bottom) / Math.max(1, slots.length - 1);
    layout = { slots, index: new Map(slots.map((id, i) => [id, i])), row, height: fixedHeight };
    return layout;
  }
  const row = Math.max(7, Math.min(18, 460 / slots.length));
  const height = M.top + M.bottom + row * (slots.length - 1);
  layout = { slots, index: new Map(slots.map((id, i) => [id, i])), row, height };
  return layout;
}

/** The y of a node id's row, in svg px. */
export const yOf = (id) => M.top + layout.index.get(id) * layout.row;

/** Show as many labels as fit: highlighted first, then counted edges by rank, then the rest. */
export function placeLabels(panel) {
  const taken = [];
  const prio = (d) => (d.id === state.ui.node ? -1e9 : 0) + (panel.counted.has(d.id) ? 0 : 1e6) + (d.kind === MORE ? -2e7 : d.kind === ERROR ? -1e7 : 0) + (d.rank ?? 0);
  const nodes = panel.svg.selectAll("g.node").nodes().map((el) => ({ el, d: d3.select(el).datum() }));
  nodes.sort((a, b) => prio(a.d) - prio(b.d));
  for (const { el, d } of nodes) {
    if (d.kind === MORE && el.classList.contains("hidden")) continue;
    const y = yOf(d.id);
    const ok = taken.every((t) => Math.abs(t - y) >= LABEL_GAP / (panel.zoomK || 1));
    el.classList.toggle("label-hidden", !ok);
    if (ok) taken.push(y);
  }
}

/** A weight as the panels print it: 4 decimals, or exponent form when tiny or huge. */
export function fmtW(w) {
  if (w === null || w === undefined) return "–";
  const a = Math.abs(w);
  return a !== 0 && (a < 0.001 || a >= 10000) ? w.toExponential(2) : d3.format(",.4~f")(w);
}

/** `s` cut to `n` characters, with an ellipsis when cut. */
export function truncate(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, Math.max(1, n - 1)) + "…" : s;
}
