// The HTML around the graph drawings: each panel's card (header with the node set and its
// badge, the box the svg goes in, and the rows under it: highlighted node, the table's median,
// the causal check, what the set is, why this many edges, and the figure downloads), plus the
// circuit line and the edge legend above all panels. No svg is drawn here.

import { familyColor, nodeSetColor } from "./colors.js";
import { nodeSetShort } from "./explain.js";
import { fileStem, figureTools } from "./figures.js";
import { state } from "./state.js";
import { totalAbs } from "./panelnodes.js";
import { causalLine, thresholdNote } from "./panelcausal.js";
import { fmtW } from "./panellayout.js";

/**
 * Append one panel's card for `basis` to `root`. Returns the panel record the drawing modules
 * fill in: {art, basis, graph, badge, box, why, hl, median, edges, counted, totalAbs}.
 */
export function makePanel(root, basis, graph) {
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

/** The selected circuit in one line (what it reads, the input, its output) in #circuit-info. */
export function renderCircuitInfo(g) {
  const root = document.getElementById("circuit-info");
  if (!root) return;
  const model = state.data.model;
  const c = model && (model.circuits || []).find((x) => x.id === state.ui.circuit);
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

/** The edge and node legend in #edge-legend (written once). */
export function renderLegend() {
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
