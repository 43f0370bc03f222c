// The geometry figure: animals and attributes in the plane of the first two attribute
// directions (the whole space in the 2-D bunny preset, a projection otherwise), with the read
// direction of the chosen circuit. It shows why no dictionary has both: every animal arrow is a
// blend of the attribute axes, so a reader of one kind is a blend of the other kind.
//
// Data: GET /api/v1/model's `geometry` (cosines of the first animals with the first
// attributes) and the circuit's `reads` (node id -> weight); nothing is typed in.

import d3 from "./d3.js";
import { familyColor, nodeKindColor } from "./colors.js";
import { formatCount } from "./format.js";
import { circuitCount } from "./story.js";
import { state } from "./state.js";

export const HEIGHT = 300; // px: the drawing's fixed height (embed.py sizes the frame from it)

/** 2-D coordinates: attribute j -> unit axis j (j < 2), animal i -> its first two cosines. */
export function coordinates(geometry) {
  const at = new Map();
  geometry.attributes.slice(0, 2).forEach((name, j) => at.set(`attribute:${name}`, j === 0 ? [1, 0] : [0, 1]));
  geometry.animals.forEach((name, i) => {
    const row = geometry.cosines[i] || [];
    at.set(`animal:${name}`, [row[0] || 0, row[1] || 0]);
  });
  return at;
}

/** The circuit's read direction in the plane, or null when it reads a node outside it. */
export function readVector(circuit, at) {
  let x = 0;
  let y = 0;
  for (const r of circuit.reads || []) {
    const p = at.get(r.node);
    if (!p) return null;
    x += r.weight * p[0];
    y += r.weight * p[1];
  }
  return [x, y];
}

/** One sentence under the figure, from the model and the table's per-circuit numbers. */
export function caption(model, table, circuit) {
  const g = model.geometry;
  const d = (model.attributes && model.attributes.count) || g.attributes.length;
  const plane = d <= 2 && !(model.config && model.config.random_dims)
    ? `Each animal is a blend of the ${d} attribute axes`
    : `Projected on 2 of ${d} attribute axes, each animal is a blend of them`;
  let s = `${plane}.`;
  if (circuit && table) {
    const a = circuitCount(table, circuit.id, "animal", state.ui.view);
    const t = circuitCount(table, circuit.id, "attribute", state.ui.view);
    if (a !== null && t !== null) {
      s += ` “${circuit.label}” reads the dashed arrow: ${formatCount(a)} ${state.ui.view} edge${a === 1 ? "" : "s"} ` +
        `with animal nodes, ${formatCount(t)} with attribute nodes.`;
    }
  }
  return s;
}

const LABEL_H = 14; // px a label's line takes (12 px text and its halo)
const CHAR_W = 6.5; // px a character takes, roughly, at the figure's font size

/**
 * Each animal with `dy`, its label's vertical offset from its point: labels are placed from the
 * top down, each at the nearest offset (0, ±14, ±28, ...) where its box overlaps no label placed
 * before it, so close animals stay readable.
 */
function placeLabels(animals, X, Y) {
  const placed = [];
  const order = [...animals].sort((a, b) => Y(a.p[1]) - Y(b.p[1]));
  for (const d of order) {
    const w = CHAR_W * d.name.length;
    const x0 = X(d.p[0]) + (d.p[0] >= 0 ? 7 : -7 - w);
    const y = Y(d.p[1]);
    const free = (dy) => placed.every((b) => x0 + w <= b.x0 || b.x0 + b.w <= x0 ||
      Math.abs(y + dy - b.y) >= LABEL_H);
    let dy = 0;
    for (let k = 1; !free(dy) && k < 40; k += 1) dy = (k % 2 ? 1 : -1) * Math.ceil(k / 2) * LABEL_H;
    placed.push({ x0, w, y: y + dy });
    d.dy = dy;
  }
  return animals;
}

/** Draw into `root` (a figure element): svg + figcaption. */
export function render(root) {
  const model = state.data.model;
  if (!model || !model.geometry) return;
  const at = coordinates(model.geometry);
  const circuit = (model.circuits || []).find((c) => c.id === state.ui.circuit) || null;
  const read = circuit ? readVector(circuit, at) : null;
  const width = Math.max(260, Math.round(root.clientWidth || 480));
  const H = HEIGHT;
  const r = (Math.min(width, H) / 2 - 34) / 1.1;
  const cx = width / 2;
  const cy = H / 2;
  const X = (v) => cx + v * r;
  const Y = (v) => cy - v * r;
  d3.select(root).selectAll("svg").remove();
  const svg = d3.select(root).insert("svg", ":first-child").attr("class", "geometry")
    .attr("viewBox", `0 0 ${width} ${H}`).attr("width", width).attr("height", H).attr("role", "img")
    .attr("aria-label", "Animals and attribute directions in the plane of the first two attributes");
  svg.append("defs").append("marker").attr("id", "geo-arrow").attr("viewBox", "0 0 10 10").attr("refX", 9).attr("refY", 5)
    .attr("markerWidth", 7).attr("markerHeight", 7).attr("orient", "auto-start-reverse")
    .append("path").attr("d", "M0,0L10,5L0,10z").attr("class", "arrow-head");
  svg.append("circle").attr("class", "unit").attr("cx", cx).attr("cy", cy).attr("r", r);
  const attrs = model.geometry.attributes.slice(0, 2).map((name) => ({ name, p: at.get(`attribute:${name}`) }));
  svg.append("g").attr("class", "attrs").selectAll("g").data(attrs).join("g").each(function (d) {
    const g = d3.select(this);
    g.append("line").attr("x1", cx).attr("y1", cy).attr("x2", X(d.p[0])).attr("y2", Y(d.p[1]))
      .attr("marker-end", "url(#geo-arrow)").style("stroke", nodeKindColor("attribute"));
    g.append("text").attr("x", X(d.p[0] * 1.08)).attr("y", Y(d.p[1] * 1.08) + (d.p[1] ? -4 : 4))
      .attr("text-anchor", d.p[0] ? "start" : "middle").text(d.name);
  });
  const animals = placeLabels(model.geometry.animals.map((name) => ({ name, p: at.get(`animal:${name}`) })), X, Y);
  svg.append("g").attr("class", "animals").selectAll("g").data(animals).join("g")
    .attr("transform", (d) => `translate(${X(d.p[0])},${Y(d.p[1])})`)
    .each(function (d) {
      const g = d3.select(this);
      // The animal's direction from the origin: a blend of the attribute axes.
      g.append("line").attr("class", "animal-dir").attr("x1", cx - X(d.p[0])).attr("y1", cy - Y(d.p[1]))
        .attr("x2", 0).attr("y2", 0).style("stroke", nodeKindColor("animal"));
      g.append("circle").attr("r", 4.5).style("fill", nodeKindColor("animal"));
      if (Math.abs(d.dy) > 2) {  // a label moved off its point keeps a thin leader to it
        g.append("line").attr("class", "leader").attr("x1", 0).attr("y1", 0)
          .attr("x2", d.p[0] >= 0 ? 6 : -6).attr("y2", d.dy);
      }
      g.append("text").attr("x", d.p[0] >= 0 ? 7 : -7).attr("y", d.dy).attr("dy", "0.32em")
        .attr("text-anchor", d.p[0] >= 0 ? "start" : "end").text(d.name);
    });
  if (read) {
    const n = Math.hypot(read[0], read[1]) || 1;
    const u = [read[0] / n, read[1] / n];
    svg.append("line").attr("class", "read").attr("x1", cx).attr("y1", cy).attr("x2", X(u[0])).attr("y2", Y(u[1]))
      .attr("marker-end", "url(#geo-arrow)").style("stroke", familyColor(circuit.family));
  }
  let cap = d3.select(root).select("figcaption");
  if (cap.empty()) cap = d3.select(root).append("figcaption");
  cap.attr("class", "geometry-caption").text(caption(model, state.data.table, circuit));
}
