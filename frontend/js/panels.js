// Graph panels: one per shown node set, for the selected circuit and input, on ONE shared
// layout (a node id sits at the same height in every panel). Source nodes on the left, the
// circuit's output on the right; edge width ∝ |weight|, colour by sign.
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
// difference y − r·a of the panel's JSON, dashed, and never counted. Under each panel the
// version-2 causal check: the output the counted edges alone reproduce, and the error's share.

import d3 from "./d3.js";
import { familyColor, nodeKindColor, nodeSetColor, signColor } from "./colors.js";
import { nodeSetShort, panelSentence } from "./explain.js";
import { fileStem, figureTools } from "./figures.js";
import { formatCount, plural } from "./format.js";
import { MAX_TOP, TOP } from "./api.js";
import { shownBases, state, update } from "./state.js";
import { circuitCount, countOf } from "./story.js";
import { ERROR, MORE, THRESHOLD, absOf, badgeFor, edgesFor, splitNodes, thresholdOf, totalAbs, visibleFeats } from "./panelnodes.js";
import { causalLine, thresholdNote } from "./panelcausal.js";

const M = { top: 14, bottom: 14, right: 16 };
const OUT_R = 9;
const LABEL_GAP = 13; // px between two visible labels (12 px text)
const MAX_WIDTH = 12;

let layout = null; // {slots: [...ids], index: Map, row, height}
let fixedHeight = null; // px: every panel's svg height (embedded mini panels), or null to fit rows

/** Fix the panels' drawing height (an embed's figure must know its height in advance). */
export function setFixedHeight(h) {
  fixedHeight = h;
}
let tooltip = null;

// ---- shared layout ----------------------------------------------------------------------------

function circuitFamily() {
  const c = ((state.data.model && state.data.model.circuits) || []).find((x) => x.id === state.ui.circuit);
  return c ? c.family : null;
}

/** One row per node id over all panels; grouped by kind, the strongest first within a kind. */
function sharedLayout(graphs) {
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
    return { slots, index: new Map(slots.map((id, i) => [id, i])), row, height: fixedHeight };
  }
  const row = Math.max(7, Math.min(18, 460 / slots.length));
  const height = M.top + M.bottom + row * (slots.length - 1);
  return { slots, index: new Map(slots.map((id, i) => [id, i])), row, height };
}

const yOf = (id) => M.top + layout.index.get(id) * layout.row;

// ---- tooltip ----------------------------------------------------------------------------------

function fmtW(w) {
  if (w === null || w === undefined) return "–";
  const a = Math.abs(w);
  return a !== 0 && (a < 0.001 || a >= 10000) ? w.toExponential(2) : d3.format(",.4~f")(w);
}

function showTip(lines, x, y) {
  if (!tooltip) tooltip = document.getElementById("tooltip");
  tooltip.replaceChildren(
    ...lines.map((l, i) => {
      const d = document.createElement("div");
      if (i === 0) d.className = "tip-title";
      d.textContent = l;
      return d;
    }),
  );
  tooltip.hidden = false;
  const r = tooltip.getBoundingClientRect();
  const left = Math.min(x + 14, window.innerWidth - r.width - 6);
  const top = y + 14 + r.height > window.innerHeight ? y - r.height - 10 : y + 14;
  tooltip.style.setProperty("left", `${Math.max(4, left)}px`);
  tooltip.style.setProperty("top", `${Math.max(4, top)}px`);
}

function hideTip() {
  if (tooltip) tooltip.hidden = true;
}

function nodeLines(panel, d) {
  const total = panel.totalAbs || 0;
  const a = d.abs ?? Math.abs(d.weight || 0);
  const lines = [d.label || d.id, `id: ${d.id}`];
  if (d.kind === MORE) {
    const e = panel.edges.find((x) => x.key === MORE);
    if (e && e.kind === "pruned") lines.push(`${e.total} edges beyond τ, folded (not counted)`, `weight (sum): ${fmtW(e.weight)}`);
    else if (e) lines.push(`${e.total} edges folded by the API; ${e.count} of them are needed for τ`, `weight (sum): ${fmtW(e.weight)}`);
    if ((state.ui.top || TOP) < MAX_TOP) lines.push("click to list more of them");
    return lines;
  }
  if (d.kind === THRESHOLD) {
    return [d.label, `−b${state.ui.input === "dataset" ? " on the inputs where the circuit fires, averaged over all inputs" : ""}: ${fmtW(d.weight)}`,
      `reader's input r·a ${fmtW(panel.graph.total)} + threshold ${fmtW(d.weight)} = output y ${fmtW(panel.graph.output)}`,
      "not an edge: never counted; the edges split r·a"];
  }
  lines.push(`weight: ${fmtW(d.weight)}`);
  if (d.ablation_pre !== undefined) lines.push(`ablated: r·a falls by ${fmtW(d.ablation_pre)}, y by ${fmtW(d.ablation_output)}`);
  if (total > 0) lines.push(`share of |attribution|: ${(100 * a / total).toFixed(1)}%`);
  if (d.kind === ERROR) lines.push("reconstruction error: shown, never counted");
  else if (panel.counted.has(d.id)) lines.push("counted: needed to reach τ");
  else lines.push("beyond τ: folded into the grey edge");
  return lines;
}

// ---- drawing ----------------------------------------------------------------------------------

function makePanel(root, basis, graph) {
  const art = document.createElement("article");
  art.className = "panel";
  art.dataset.basis = basis.id;
  art.style.setProperty("--hue", nodeSetColor(basis.id));
  art.classList.toggle("selected", state.ui.basis === basis.id);
  const head = document.createElement("header");
  const h = document.createElement("h3");
  h.textContent = basis.id;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.setAttribute("aria-live", "polite");
  // SVG/PNG downloads; looked up at click time because prune() redraws the edges.
  const tools = figureTools(
    () => box.querySelector("svg"),
    () => fileStem("basisgraph", basis.id, state.ui.circuit, state.ui.input),
    `the ${basis.id} graph`,
  );
  head.append(h);
  if (basis.oracle) {
    // Version-2 bodies mark the per-circuit view: it is read off the true features.
    const tag = document.createElement("span");
    tag.className = "oracle-tag";
    tag.textContent = "oracle";
    tag.title = basis.oracle;
    head.append(tag);
  }
  head.append(badge);
  const short = document.createElement("p");
  short.className = "panel-what";
  short.textContent = nodeSetShort(basis);
  const hl = document.createElement("p");
  hl.className = "panel-hl";
  const box = document.createElement("div");
  box.className = "panel-svg";
  const why = document.createElement("p");
  why.className = "panel-why";
  const median = document.createElement("p");
  median.className = "panel-median";
  const causal = causalLine(graph, fmtW);
  // Everything above the drawing is one line, so the shared layout lines up across panels.
  art.append(head, box, hl, median, ...(causal ? [causal] : []), short, why, tools);
  root.appendChild(art);
  return { art, basis, graph, badge, box, why, hl, median, edges: [], counted: new Set(), totalAbs: totalAbs(graph) };
}

function drawPanel(panel, width, widthScale) {
  const H = layout.height;
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
  g.on("pointerenter pointermove", (ev, d) => showTip(nodeLines(panel, d), ev.clientX, ev.clientY))
    .on("pointerleave", hideTip)
    .on("focus", function (ev, d) {
      const r = this.getBoundingClientRect();
      showTip(nodeLines(panel, d), r.right, r.bottom);
    })
    .on("blur", hideTip)
    .on("click", (ev, d) => (d.kind === MORE ? expandMore(panel) : d.kind === THRESHOLD ? null : toggleNode(d.id)))
    .on("keydown", (ev, d) => onNodeKey(ev, d, panel));
}

function drawOutput(panel, view) {
  const { graph } = panel;
  const { xs, xo, yo } = panel.geom;
  const thr = thresholdOf(graph);
  if (thr !== null && layout.index.has(THRESHOLD)) {
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
  out.on("pointerenter pointermove", (ev) => showTip(outLines, ev.clientX, ev.clientY)).on("pointerleave", hideTip);
}

/**
 * Zoom and pan: Ctrl/⌘ + wheel or a pinch zooms (a plain wheel keeps scrolling the page), a
 * drag pans, a double click resets. Labels are re-placed for the zoomed row spacing.
 */
function attachZoom(panel, svg, view, width, height) {
  panel.zoomK = 1;
  const zoom = d3
    .zoom()
    .scaleExtent([1, 12])
    .translateExtent([[0, 0], [width, height]])
    .filter((ev) => (ev.type === "wheel" ? ev.ctrlKey || ev.metaKey : !ev.button && ev.type !== "dblclick"))
    .on("zoom", (ev) => {
      view.attr("transform", ev.transform);
      if (ev.transform.k !== panel.zoomK) {
        panel.zoomK = ev.transform.k;
        placeLabels(panel);
      }
    });
  svg.call(zoom).on("dblclick.zoom", null).on("dblclick", () => svg.call(zoom.transform, d3.zoomIdentity));
}

/** "+N more": ask the API for four times as many nodes per panel (up to its maximum). */
function expandMore(panel) {
  const e = panel.edges.find((x) => x.key === MORE);
  if (!e) return;
  const top = Math.min(MAX_TOP, 4 * (state.ui.top || TOP));
  if (top > (state.ui.top || TOP)) update({ ui: { top } }, "push", "panels");
}

function truncate(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, Math.max(1, n - 1)) + "…" : s;
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

  panel.svg
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
    })
    .on("pointerenter pointermove", (ev, d) => showTip(edgeLines(panel, d), ev.clientX, ev.clientY))
    .on("pointerleave", hideTip);

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

function edgeLines(panel, d) {
  const total = panel.totalAbs || 0;
  const share = total > 0 ? ` (${(100 * d.abs / total).toFixed(1)}% of |attribution|)` : "";
  const c = panel.graph.circuit || {};
  if (d.kind === "pruned") return [`${d.total} edges beyond τ`, `folded into one, not counted`, `weight (sum): ${fmtW(d.weight)}${share}`];
  if (d.kind === "folded") return [d.label, `${d.count} of these ${d.total} edges are counted`, `weight (sum): ${fmtW(d.weight)}${share}`];
  if (d.kind === "error") return ["error → " + (c.label || c.id), `weight: ${fmtW(d.weight)}${share}`, "reconstruction error: never counted"];
  return [`${d.label || d.source} → ${c.label || c.id}`, `weight: ${fmtW(d.weight)}${share}`];
}

/** Show as many labels as fit: highlighted first, then counted edges by rank, then the rest. */
function placeLabels(panel) {
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

// ---- selection and keyboard -------------------------------------------------------------------

function toggleNode(id) {
  if (id === THRESHOLD) return; // drawn for reading, not a node of any set
  update({ ui: { node: state.ui.node === id ? null : id } }, "push", "panels");
}

function focusableNodes(panel) {
  return panel.svg
    .selectAll("g.node")
    .nodes()
    .filter((el) => !el.classList.contains("hidden"))
    .sort((a, b) => yOf(d3.select(a).datum().id) - yOf(d3.select(b).datum().id));
}

function onNodeKey(ev, d, panel) {
  const list = focusableNodes(panel);
  const i = list.indexOf(ev.currentTarget);
  let next = null;
  if (ev.key === "ArrowDown" || ev.key === "ArrowRight") next = list[Math.min(list.length - 1, i + 1)];
  else if (ev.key === "ArrowUp" || ev.key === "ArrowLeft") next = list[Math.max(0, i - 1)];
  else if (ev.key === "Home") next = list[0];
  else if (ev.key === "End") next = list[list.length - 1];
  else if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    toggleNode(d.id);
    return;
  } else if (ev.key === "Escape") {
    if (state.ui.node) update({ ui: { node: null } }, "push", "panels");
    return;
  } else return;
  ev.preventDefault();
  if (next) {
    for (const el of list) el.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }
}

/** One tab stop per panel: the highlighted node if drawn here, else the top node. */
function setRovingTabStop(panel) {
  const list = focusableNodes(panel);
  for (const el of list) el.setAttribute("tabindex", "-1");
  const hl = list.find((el) => el.dataset.id === state.ui.node);
  const first = hl || list.find((el) => !el.classList.contains("kind-more")) || list[0];
  if (first) first.setAttribute("tabindex", "0");
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
  layout = sharedLayout(graphs);
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
  renderCircuitInfo();
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

function renderCircuitInfo() {
  const root = document.getElementById("circuit-info");
  if (!root) return;
  const model = state.data.model;
  const c = model && (model.circuits || []).find((x) => x.id === state.ui.circuit);
  const g = panels.length ? panels[0].graph : null;
  root.replaceChildren();
  if (!c) return;
  const fam = document.createElement("span");
  fam.className = "fam-chip";
  fam.style.setProperty("--hue", familyColor(c.family));
  fam.textContent = `${c.family} circuit`;
  const reads = (c.reads || []).map((r) => `${fmtW(r.weight)}·${r.node}`).join(" + ");
  let text = ` ${c.label || c.id}: reads ${reads || "its direction"}`;
  if (c.bias !== undefined && c.bias !== null) text += `, bias ${fmtW(c.bias)}`;
  text += ".";
  if (g) {
    const inp = g.input ? g.input.label || g.input.id : state.ui.input;
    if (state.ui.input === "dataset") {
      const frac = typeof g.active === "number" ? ` It fires on ${(100 * g.active).toFixed(0)}% of inputs;` : "";
      text += ` Input: ${inp}.${frac} mean output ${fmtW(g.output)}.`;
    } else {
      text += ` Input: ${inp}; ${g.active === false ? "the circuit does not fire (output 0)" : `output ${fmtW(g.output)}`}.`;
    }
  }
  root.append(fam, text);
  const note = thresholdNote(g, state.ui.model === "trained", fmtW);
  if (note) root.append(note);
}

function renderLegend() {
  const root = document.getElementById("edge-legend");
  if (!root || root.childElementCount) return;
  const item = (cls, text) => {
    const s = document.createElement("span");
    s.className = `legend-item ${cls}`;
    const sw = document.createElement("span");
    sw.className = "legend-swatch";
    sw.setAttribute("aria-hidden", "true");
    s.append(sw, text);
    return s;
  };
  root.append(
    item("pos", "positive edge"),
    item("neg", "negative edge"),
    item("fold", "edges beyond τ, folded"),
    item("k-animal", "animal node"),
    item("k-attribute", "attribute node"),
    item("k-neuron", "neuron node"),
    item("k-threshold", "threshold −b (not counted)"),
    document.createTextNode(" Width ∝ |weight|, on one scale for all panels. Click a node to find it in every panel."),
  );
}
