// Graph panels: one per shown node set, for the selected circuit and input, on ONE shared
// layout (a node id sits at the same height in every panel). Drawing and pruning (below) still live here;
// the shared layout, the cards and the interaction are in panellayout, panelframe, panelinteract.

import d3 from "./d3.js";
import { familyColor, nodeKindColor, signColor } from "./colors.js";
import { panelSentence } from "./explain.js";
import { formatCount, plural } from "./format.js";
import { shownBases, state } from "./state.js";
import { circuitCount, countOf } from "./story.js";
import { ERROR, MORE, THRESHOLD, badgeFor, edgesFor, splitNodes, thresholdOf, visibleFeats } from "./panelnodes.js";
import { MAX_WIDTH, M, OUT_R, buildLayout, circuitFamily, currentLayout, fmtW, placeLabels, setFixedHeight as setLayoutHeight, truncate, yOf } from "./panellayout.js";
import { makePanel, renderCircuitInfo, renderLegend } from "./panelframe.js";
import { attachZoom, bindEdges, bindNodes, bindOutput, hideTip, setRovingTabStop } from "./panelinteract.js";

/** Fix the panels' drawing height (an embed's figure must know its height in advance). */
export function setFixedHeight(h) {
  setLayoutHeight(h);
}

// ---- drawing and pruning ----

/** Draw a panel's svg (nodes, output, an empty edge group) `width` px wide; prunePanel adds edges. */
function drawPanel(panel, width, widthScale) {
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
  out.append("circle").attr("r", OUT_R).style("stroke", familyColor(circuitFamily()));
  const c = graph.circuit || {};
  // Named after the circuit (its label), as Neuronpedia names the logit node.
  out.append("text").attr("class", "out-label").attr("x", OUT_R).attr("y", -OUT_R - 5).attr("text-anchor", "end")
    .text(truncate(c.label || String(c.id || "circuit"), Math.floor((xo + OUT_R - xs - 4) / 7.5)));
  out.append("text").attr("class", "out-value").attr("x", OUT_R).attr("y", OUT_R + 13).attr("text-anchor", "end")
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
function prunePanel(panel, tau) {
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

// ---- public -----------------------------------------------------------------------------------

let panels = [];

/** Build every panel from state.data.graphs. */
export function render(root) {
  hideTip();
  const focusedId = document.activeElement && root.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  const focusedBasis = focusedId ? document.activeElement.closest(".panel").dataset.basis : null;
  const bases = shownBases().filter((b) => state.data.graphs.has(b.id));
  const graphs = bases.map((b) => state.data.graphs.get(b.id));
  buildLayout(graphs);
  root.replaceChildren();
  panels = bases.map((b, i) => makePanel(root, b, graphs[i]));
  const width = Math.max(220, Math.floor((panels[0] && panels[0].box.clientWidth) || 300));
  const maxAbs = d3.max(graphs, (g) => {
    const { feats, more, error } = splitNodes(g);
    return Math.max(
      d3.max(feats, (f) => f.abs ?? Math.abs(f.weight)) || 0,
      more ? more.abs ?? Math.abs(more.weight) : 0,
      error ? Math.abs(error.weight || 0) : 0,
    );
  }) || 1;
  const widthScale = d3.scaleLinear().domain([0, maxAbs]).range([0, 9]);
  for (const p of panels) drawPanel(p, width, widthScale);
  prune();
  highlight();
  renderCircuitInfo(panels.length ? panels[0].graph : null);
  renderLegend();
  if (focusedId) {
    const p = panels.find((x) => x.basis.id === focusedBasis);
    const el = p && p.svg.selectAll("g.node").nodes().find((n) => n.dataset.id === focusedId);
    if (el) el.focus();
  }
}

/** Re-prune every panel to the current τ (the coverage slider, live). */
export function prune() {
  const tau = state.config.coverage;
  for (const p of panels) prunePanel(p, tau);
}

/** Whether `basis`'s panel counts node `id` at the current τ (for the detail pane). */
export function isCounted(basis, id) {
  const p = panels.find((x) => x.basis.id === basis);
  return Boolean(p && p.counted.has(id));
}

/** Mark the highlighted node (same id) in every panel. */
export function highlight() {
  const id = state.ui.node;
  for (const p of panels) {
    p.svg.classed("has-highlight", Boolean(id));
    let found = null;
    p.svg.selectAll("g.node").each(function (d) {
      const on = Boolean(id) && d.id === id;
      this.classList.toggle("highlighted", on);
      this.setAttribute("aria-pressed", on ? "true" : "false");
      if (on) found = d;
    });
    p.svg.selectAll("path.edge").classed("highlighted", (d) => Boolean(id) && d.source === id);
    if (!id) p.hl.textContent = "";
    else if (found) p.hl.textContent = `${found.label || found.id}: weight ${fmtW(found.weight)}`;
    else p.hl.textContent = `${id.split(":").pop()}: not a node of this set`;
    p.hl.classList.toggle("missing", Boolean(id) && !found);
    placeLabels(p);
    setRovingTabStop(p);
  }
}

/**
 * A link named a circuit (and maybe a node): scroll to the node in the chosen node set's panel
 * (or the first panel that draws it), else to the graphs, and mark it for a moment.
 */
export function land(nodeId) {
  let target = null;
  if (nodeId) {
    const order = [...panels].sort((a, b) => (b.basis.id === state.ui.basis) - (a.basis.id === state.ui.basis));
    for (const p of order) {
      const el = p.svg.selectAll("g.node").nodes().find((n) => n.dataset.id === nodeId);
      if (el) {
        target = el;
        break;
      }
    }
  }
  const section = document.getElementById("graphs");
  const el = target || section;
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.classList.add("landed");
  if (!target && section) section.focus({ preventScroll: true });
  setTimeout(() => el.classList.remove("landed"), 2400);
}

/** Scroll a node set's panel into view (after a table cell was chosen). */
export function reveal(basisId) {
  const p = panels.find((x) => x.basis.id === basisId);
  if (p) p.art.scrollIntoView({ block: "nearest", behavior: "smooth" });
}
