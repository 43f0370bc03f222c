// Drawing one graph panel's svg on the shared layout, and pruning it to the coverage τ.
// Source nodes on the left, the circuit's output on the right; edge width ∝ |weight|, colour by sign.
//
// Pruning by the coverage slider happens here, live, from each panel's coverage_curve:
// badge = coverage_curve[round(τ·100)]; that many top edges are drawn one by one (data-count=1).
// If the badge is larger than the nodes the API returned individually, the API's "+N more" node
// carries the remainder (data-count = badge − drawn). Otherwise the returned nodes beyond the
// badge and the "+N more" node are drawn as one grey folded edge that is not counted
// (data-count=0). So in every panel, Σ data-count over edges = the badge.
//
// The reader's threshold is drawn too: edges split the reader's input r·a, and the threshold
// node (−b, on the inputs where the circuit fires) takes r·a to the output y. It is the
// difference y − r·a of the panel's JSON, dashed, and never counted.

import d3 from "./d3.js";
import { familyColor, nodeKindColor, signColor } from "./colors.js";
import { panelSentence } from "./explain.js";
import { formatCount, plural } from "./format.js";
import { state } from "./state.js";
import { circuitCount, countOf } from "./story.js";
import { ERROR, MORE, THRESHOLD, badgeFor, edgesFor, splitNodes, thresholdOf, visibleFeats } from "./panelnodes.js";
import { MAX_WIDTH, M, OUT_NAME_Y, OUT_R, OUT_VALUE_Y, circuitFamily, currentLayout, fmtW, placeLabels, truncate, yOf } from "./panellayout.js";
import { attachZoom, bindEdges, bindNodes, bindOutput } from "./panelinteract.js";

/** Draw a panel's svg (nodes, output, an empty edge group) `width` px wide; prunePanel adds edges. */
export function drawPanel(panel, width, widthScale) {
  const H = currentLayout().height;
  const labelW = Math.min(118, Math.max(70, width * 0.36));
  const xs = labelW + 6;
  const xo = width - M.right - OUT_R;
  panel.geom = { xs, xo, yo: H / 2, width, widthScale, labelW };
  const svg = d3
    .select(panel.box)
    .append("svg")
    .attr("viewBox", `0 0 ${width} ${H}`)
    .attr("width", width)
    .attr("height", H)
    .attr("role", "group")
    .attr("aria-label", `${panel.basis.id} graph of ${panel.graph.circuit ? panel.graph.circuit.label : "the circuit"}`);
  const view = svg.append("g").attr("class", "zoom");
  view.append("g").attr("class", "edges");
  drawNodes(panel, view);
  drawOutput(panel, view);
  attachZoom(panel, svg, view, width, H);
  panel.svg = svg;
}

/** Node labels, with the node id's tail added where two nodes of a panel share a label. */
function nodeLabels(drawn) {
  const seen = new Map();
  for (const d of drawn) seen.set(d.label || d.id, (seen.get(d.label || d.id) || 0) + 1);
  return (d) => {
    const l = d.label || d.id;
    return seen.get(l) > 1 && d.kind !== MORE && d.kind !== ERROR ? `${l} #${String(d.id).split(":").pop()}` : l;
  };
}

function drawNodes(panel, view) {
  const layout = currentLayout();
  const { graph } = panel;
  const { xs, labelW } = panel.geom;
  const { more, error } = splitNodes(graph);
  const drawn = visibleFeats(graph).filter((f) => layout.index.has(f.id));
  if (more) drawn.push({ ...more, id: MORE, kind: MORE });
  else drawn.push({ id: MORE, kind: MORE, label: "", weight: 0, abs: 0, placeholder: true });
  if (error) drawn.push({ ...error, id: ERROR, kind: ERROR, label: error.label || "error" });
  const thr = thresholdOf(graph);
  if (thr !== null && layout.index.has(THRESHOLD)) drawn.push({ id: THRESHOLD, kind: THRESHOLD, label: "threshold", weight: thr, abs: Math.abs(thr) });
  const label = nodeLabels(drawn);
  const g = view
    .append("g")
    .attr("class", "nodes")
    .selectAll("g.node")
    .data(drawn, (d) => d.id)
    .join("g")
    .attr("class", (d) => `node kind-${d.kind}`)
    .attr("data-id", (d) => d.id)
    .attr("transform", (d) => `translate(${xs},${yOf(d.id)})`)
    .attr("tabindex", -1)
    .attr("role", "button")
    .attr("aria-label", (d) => `${label(d)}, weight ${fmtW(d.weight)}`);
  g.each(function (d) {
    const sel = d3.select(this);
    if (d.kind === MORE) {
      sel.append("rect").attr("x", -4.5).attr("y", -4.5).attr("width", 9).attr("height", 9).attr("rx", 2);
    } else if (d.kind === ERROR) {
      sel.append("rect").attr("x", -4).attr("y", -4).attr("width", 8).attr("height", 8);
    } else if (d.kind === THRESHOLD) {
      sel.append("path").attr("d", "M0,-5L5,0L0,5L-5,0Z");
    } else {
      sel.append("circle").attr("r", layout.row < 9 ? 3.2 : 4.2).style("fill", nodeKindColor(d.kind));
    }
    sel.append("text").attr("x", -8).attr("dy", "0.32em").attr("text-anchor", "end")
      .text(truncate(label(d), Math.floor(labelW / 7)));
  });
  bindNodes(g, panel);
}

function drawOutput(panel, view) {
  const { graph } = panel;
  const { xs, xo, yo } = panel.geom;
  const thr = thresholdOf(graph);
  if (thr !== null && currentLayout().index.has(THRESHOLD)) {
    const link = d3.linkHorizontal()({ source: [xs + 5, yOf(THRESHOLD)], target: [xo - OUT_R, yo] });
    view.select("g.edges").append("path").attr("class", "threshold-edge").attr("d", link)
      .attr("data-weight", thr).attr("data-count", 0); // thin: a threshold, not an edge to weigh
  }
  const out = view.append("g").attr("class", "output").attr("transform", `translate(${xo},${yo})`);
  // The name and value sit in the top band, right-aligned over the node, joined to it by a
  // leader down the one column no edge crosses (edges end at the node's left side).
  out.append("line").attr("class", "out-leader").attr("x1", 0).attr("x2", 0)
    .attr("y1", OUT_VALUE_Y + 5 - yo).attr("y2", -OUT_R);
  out.append("circle").attr("r", OUT_R).style("stroke", familyColor(circuitFamily()));
  const c = graph.circuit || {};
  // Named after the circuit (its label), as Neuronpedia names the logit node.
  out.append("text").attr("class", "out-label").attr("x", OUT_R).attr("y", OUT_NAME_Y - yo).attr("text-anchor", "end")
    .text(truncate(c.label || String(c.id || "circuit"), Math.floor((xo + OUT_R - 4) / 7.5)));
  out.append("text").attr("class", "out-value").attr("x", OUT_R).attr("y", OUT_VALUE_Y - yo).attr("text-anchor", "end")
    .text(graph.output === null || graph.output === undefined ? "" : `y = ${fmtW(graph.output)}`);
  const outLines = [c.label || c.id, `id: ${c.id}`, `output y: ${fmtW(graph.output)}`, `reader's input r·a (Σ edges, error included): ${fmtW(graph.total)}`];
  if (thr !== null) outLines.push(`threshold: ${fmtW(thr)} (y = r·a − b where the circuit fires)`);
  bindOutput(out, outLines);
}

function edgePath(panel, d) {
  const { xs, xo, yo } = panel.geom;
  const y = yOf(d.source);
  const link = d3.linkHorizontal();
  return link({ source: [xs + 5, y], target: [xo - OUT_R, yo] });
}

/**
 * The panel's number under the page's one counting rule. On one example input it is that
 * input's count. Over the dataset it is the global count (the coverage curve of the mean
 * |edge|), or under the local count the table's median over the inputs where it fires; the
 * drawing then keeps that many of the strongest mean edges and folds the rest.
 */
export function panelCount(graph, basis, tau) {
  const t = state.data.table;
  if (state.ui.view === "local" && state.ui.input === "dataset" && t && graph && graph.active !== false) {
    const v = circuitCount(t, state.ui.circuit, basis, "local");
    if (v !== null) return v;
  }
  return badgeFor(graph, tau);
}

/** (Re)draw the edges of one panel for the current τ; updates the badge and labels. */
export function prunePanel(panel, tau) {
  const value = panelCount(panel.graph, panel.basis.id, tau);
  const n = Math.ceil(value);
  const edges = edgesFor(panel.graph, n);
  panel.edges = edges;
  panel.counted = new Set(edges.filter((e) => e.kind === "single").map((e) => e.key));
  const scale = panel.geom.widthScale;
  const inactive = panel.graph.active === false || panel.graph.edge_count === null;
  panel.badge.dataset.edges = String(value);
  panel.badge.textContent = inactive ? "not active" : plural(value, "edge");
  panel.badge.title = inactive
    ? "The circuit does not fire on this input"
    : `${state.ui.view} edges needed to cover τ = ${tau.toFixed(2)} of |attribution|`;
  const fam = circuitFamily();
  const t = state.data.table;
  const med = t && fam ? countOf(t, panel.basis.id, fam, state.ui.view) : null;
  panel.median.dataset.value = JSON.stringify(med);
  const seeds = t && t.seeds && t.seeds.length > 1 ? t.seeds : null;
  panel.median.textContent = med === null ? "" : `${state.ui.view === "global" ? "Global" : "Local"} count; median of the ${fam} circuits: ${formatCount(med)} ` +
    (seeds ? `(seed ${seeds[0]}; the table shows the median over ${seeds.length} seeds)` : "(the table's cell)");
  panel.art.classList.toggle("inactive", inactive);

  const paths = panel.svg
    .select("g.edges")
    .selectAll("path.edge")
    .data(edges, (d) => d.key)
    .join("path")
    .attr("class", (d) => `edge ${d.kind}`)
    .attr("data-source", (d) => d.source)
    .attr("data-count", (d) => d.count)
    .attr("data-weight", (d) => d.weight)
    .attr("d", (d) => edgePath(panel, d))
    .each(function (d) {
      this.style.setProperty("stroke-width", `${Math.min(MAX_WIDTH, Math.max(0.8, scale(d.abs)))}px`);
      this.style.setProperty("stroke", d.kind === "pruned" || d.kind === "error" ? "" : signColor(d.weight));
    });
  bindEdges(paths, panel);

  // Nodes beyond τ are kept in place but faded; the "+N" node names what is folded.
  const moreEdge = edges.find((e) => e.key === MORE);
  panel.svg.selectAll("g.node").each(function (d) {
    const sel = d3.select(this);
    if (d.kind === MORE) {
      sel.classed("hidden", !moreEdge);
      sel.select("text").text(moreEdge ? moreEdge.label : "");
      sel.attr("aria-label", moreEdge ? moreEdge.label : "");
      sel.attr("tabindex", moreEdge ? -1 : null);
    } else if (d.kind !== ERROR && d.kind !== THRESHOLD) {
      sel.classed("pruned", !panel.counted.has(d.id));
    }
  });
  placeLabels(panel);
  panel.why.textContent = panelSentence(panel.graph, value, tau, state.ui.view === "local" && state.ui.input === "dataset");
}
