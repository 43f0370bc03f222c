// Graph panels, the public face: one panel per shown node set, for the selected circuit and
// input, on ONE shared layout (a node id sits at the same height in every panel). The entry
// points the page, the embed and the detail pane call live here; the work is in
//   panellayout.js   the shared rows, label placement, text helpers (the one layout state)
//   panelframe.js    each panel's card and the rows under it, the circuit line, the legend
//   paneldraw.js     the svg: nodes, output, edges pruned to τ, badge and sentences
//   panelinteract.js tooltips, highlight by click or key, roving tab stop, zoom
// Imports point one way: panels -> draw -> interact -> layout; frame -> layout.

import d3 from "./d3.js";
import { shownBases, state } from "./state.js";
import { splitNodes } from "./panelnodes.js";
import { buildLayout, fmtW, placeLabels, setFixedHeight as setLayoutHeight } from "./panellayout.js";
import { makePanel, renderCircuitInfo, renderLegend } from "./panelframe.js";
import { drawPanel, panelCount as countOfPanel, prunePanel } from "./paneldraw.js";
import { hideTip, setRovingTabStop } from "./panelinteract.js";

/** Fix the panels' drawing height (an embed's figure must know its height in advance). */
export function setFixedHeight(h) {
  setLayoutHeight(h);
}

/** The number a panel shows for `basis` at coverage `tau` (see paneldraw.js). */
export function panelCount(graph, basis, tau) {
  return countOfPanel(graph, basis, tau);
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
