// Finding and inspecting a node across the panels, as a Neuronpedia reader expects: a search
// box over every drawn node (label or id), and a detail pane for the highlighted node with its
// edge into the circuit in each node set, its share of the panel's |attribution|, its rank,
// whether the count keeps it, and, beside its edge, what ablating it does to the reader's input
// r·a and to its output y (the panel's version-2 causal check; without one, the change of r·a
// implied by the edge, since r·a is linear in the nodes).

import { formatCount } from "./format.js";
import { ERROR, MORE, splitNodes, totalAbs } from "./panelnodes.js";
import { shownBases, state, update } from "./state.js";

const fmt = (w) => (w === null || w === undefined ? "–" : Math.abs(w) !== 0 && (Math.abs(w) < 0.001 || Math.abs(w) >= 10000) ? w.toExponential(2) : String(Number(w.toFixed(4))));

/** Every feature node of the shown panels: Map id -> label. */
function allNodes() {
  const out = new Map();
  for (const b of shownBases()) {
    const g = state.data.graphs.get(b.id);
    for (const n of splitNodes(g).feats) if (!out.has(n.id)) out.set(n.id, n.label || n.id);
  }
  return out;
}

/** Fill the search box's suggestions and wire it (once). */
export function renderSearch(input, list) {
  const nodes = allNodes();
  list.replaceChildren(...[...nodes].slice(0, 500).map(([id, label]) => {
    const o = document.createElement("option");
    o.value = label === id ? id : `${label} (${id})`;
    return o;
  }));
  if (input.dataset.wired) return;
  input.dataset.wired = "true";
  input.addEventListener("change", () => {
    const q = input.value.trim().toLowerCase();
    if (!q) return;
    const found = [...allNodes()].find(([id, label]) => {
      const both = `${label} (${id})`.toLowerCase();
      return id.toLowerCase() === q || label.toLowerCase() === q || both === q;
    }) || [...allNodes()].find(([id, label]) => label.toLowerCase().includes(q) || id.toLowerCase().includes(q));
    input.setAttribute("aria-invalid", found ? "false" : "true");
    if (found) update({ ui: { node: found[0] } }, "push", "search");
  });
}

/** The rows of the detail pane: one per shown node set. */
export function detailRows(id) {
  return shownBases().map((b) => {
    const g = state.data.graphs.get(b.id);
    const { feats } = splitNodes(g);
    const i = feats.findIndex((n) => n.id === id);
    if (i < 0) return { basis: b.id, present: false };
    const n = feats[i];
    const total = totalAbs(g);
    return {
      basis: b.id, present: true, label: n.label || n.id, kind: n.kind, weight: n.weight,
      share: total > 0 ? (n.abs ?? Math.abs(n.weight)) / total : null, rank: (n.rank ?? i) + 1, input: g.total,
      ablationPre: n.ablation_pre ?? null, ablationOutput: n.ablation_output ?? null,
    };
  });
}

/** Render the pane for state.ui.node (hidden when no node is highlighted). */
export function renderDetail(root, countedBy) {
  const id = state.ui.node;
  if (!id || id === MORE || id === ERROR || !state.data.graphs.size) {
    root.hidden = true;
    root.replaceChildren();
    return;
  }
  const rows = detailRows(id);
  const first = rows.find((r) => r.present);
  root.hidden = false;
  const h = document.createElement("h3");
  h.textContent = first ? `${first.label} (${first.kind} node ${id})` : id;
  const table = document.createElement("table");
  table.className = "node-detail-table";
  const head = table.createTHead().insertRow();
  for (const t of ["node set", "edge into the circuit", "ablated: r·a falls by", "ablated: y falls by", "share of |attribution|", "rank", "counted"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    // Without the API's ablation (a version-1 or trained panel), r·a falls by the edge exactly.
    const pre = r.ablationPre ?? (r.present ? r.weight : null);
    const cells = r.present
      ? [r.basis, fmt(r.weight), fmt(pre), r.ablationOutput === null ? "–" : fmt(r.ablationOutput),
        r.share === null ? "–" : `${(100 * r.share).toFixed(1)}%`, formatCount(r.rank),
        countedBy(r.basis, id) ? "yes" : "no, beyond τ"]
      : [r.basis, "not a node of this set", "", "", "", "", ""];
    tr.dataset.basis = r.basis;
    if (r.present) Object.assign(tr.dataset, { weight: JSON.stringify(r.weight), ablationPre: JSON.stringify(r.ablationPre), ablationOutput: JSON.stringify(r.ablationOutput) });
    cells.forEach((text, i) => {
      const cell = i === 0 ? document.createElement("th") : document.createElement("td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      tr.appendChild(cell);
    });
  }
  const note = document.createElement("p");
  note.className = "caption";
  note.textContent = "Ablating a node removes it from the activation. For a dictionary the reader's input r·a then falls by exactly the node's edge " +
    "(r·a is linear in the nodes), while the output y falls by less: y = ReLU(r·a − b) loses only what is above the threshold. " +
    "The per-circuit view's nodes are true features, so ablating one can move r·a by more or less than its edge.";
  root.replaceChildren(h, table, note);
}
