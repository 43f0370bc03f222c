// Finding and inspecting a node across the panels, as a Neuronpedia reader expects: a search
// box over every drawn node (label or id), and a detail pane for the highlighted node with its
// edge into the circuit in each node set, its share of the panel's |attribution|, its rank,
// whether the count keeps it, and the exact effect of ablating it on the circuit's input.

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
  for (const t of ["node set", "edge into the circuit", "share of |attribution|", "rank", "counted", "ablating it"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    const cells = r.present
      ? [r.basis, fmt(r.weight), r.share === null ? "–" : `${(100 * r.share).toFixed(1)}%`, formatCount(r.rank),
        countedBy(r.basis, id) ? "yes" : "no, beyond τ",
        `input ${fmt(r.input)} → ${fmt(r.input - r.weight)}`]
      : [r.basis, "not a node of this set", "", "", "", ""];
    cells.forEach((text, i) => {
      const cell = i === 0 ? document.createElement("th") : document.createElement("td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      tr.appendChild(cell);
    });
  }
  const note = document.createElement("p");
  note.className = "caption";
  note.textContent = "The circuit's input is linear in the edges, so removing a node's edge changes it by exactly that edge (before the ReLU).";
  root.replaceChildren(h, table, note);
}
