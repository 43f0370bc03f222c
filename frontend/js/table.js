// The edge-count table: node sets as columns, circuit families as rows. Each cell carries the
// API's numbers verbatim in data-local / data-global / data-error (the error node's share), and
// selecting a cell (click, Enter or Space) picks that node set and a circuit of that family for
// the graphs below. A table counted across seeds (`across_seeds`, ui.seeds > 1) shows each
// cell's median over the seeds with its range, e.g. "3 (2–5)", in data-median/-min/-max.

import { familyColor, nodeSetColor } from "./colors.js";
import { formatCount, formatShare, plural } from "./format.js";
import { shownBases, state, update } from "./state.js";
import { medianCircuit, seedRange, steps } from "./story.js";


/**
 * The circuit a cell (basis, family) opens: the family's circuit whose count under the current
 * rule is nearest the cell's median, so the panel's number is the cell's (story.js); without
 * per-circuit stats, the current circuit if it belongs to the family, else the first.
 */
export function circuitForFamily(family, basis = null) {
  const t = state.data.table;
  const m = t && basis ? medianCircuit(t, basis, family, state.ui.view) : null;
  if (m) return m;
  const circuits = (state.data.model && state.data.model.circuits) || [];
  const current = circuits.find((c) => c.id === state.ui.circuit);
  if (current && current.family === family) return current.id;
  const first = circuits.find((c) => c.family === family);
  return first ? first.id : state.ui.circuit;
}

function selectCell(td) {
  const basis = td.dataset.basis;
  const family = td.dataset.family;
  update({ ui: { basis, circuit: circuitForFamily(family, basis), node: null, step: null } }, "push", "table");
}

function onKey(ev) {
  const td = ev.target.closest("td[data-basis]");
  if (!td) return;
  if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    selectCell(td);
    return;
  }
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (!moves[ev.key]) return;
  ev.preventDefault();
  const row = td.parentElement;
  const rows = [...row.parentElement.children];
  const r = rows.indexOf(row) + moves[ev.key][0];
  const c = [...row.querySelectorAll("td")].indexOf(td) + moves[ev.key][1];
  const target = rows[r] && rows[r].querySelectorAll("td")[c];
  if (target) target.focus();
}

function onClick(ev) {
  const td = ev.target.closest("td[data-basis]");
  if (td) selectCell(td);
}

let wired = false;

/** Cells the current story step marks (story.js decides which): a Set of "basis\0family". */
export function stepMarks() {
  const t = state.data.table;
  const step = t && state.ui.step ? steps(t, state.ui.view).find((x) => x.id === state.ui.step) : null;
  return new Set(step ? step.cells.map((c) => `${c.basis}\u0000${c.family}`) : []);
}

const span = (cls, text) => {
  const el = document.createElement("span");
  el.className = cls;
  el.textContent = text;
  return el;
};

function selectedFamily() {
  const c = ((state.data.model && state.data.model.circuits) || []).find((x) => x.id === state.ui.circuit);
  return c ? c.family : null;
}

/** The header row: one column per shown node set, in its hue, with its size. */
function headerRow(table, bases) {
  const hr = table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.scope = "col";
  corner.className = "corner";
  corner.textContent = "family ╲ set";
  hr.appendChild(corner);
  for (const b of bases) {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.basis = b.id;
    th.style.setProperty("--hue", nodeSetColor(b.id));
    th.title = b.label || b.id;
    // Version-2 bodies mark the per-circuit view as an oracle: it needs the true features.
    const sub = b.oracle ? "oracle: true features" : b.is_dictionary === false ? "not a dictionary" : `${b.atoms ?? "?"} atoms`;
    th.append(span("col-name", b.id), span("col-sub", sub));
    if (b.oracle) th.title = b.oracle;
    hr.appendChild(th);
  }
}

/** A family's row header: its hue mark, its name and how many circuits it has. */
function rowHeader(t, fam) {
  const th = document.createElement("th");
  th.scope = "row";
  th.style.setProperty("--hue", familyColor(fam));
  const sw = span("fam-mark", "");
  sw.setAttribute("aria-hidden", "true");
  th.append(sw, fam);
  const n = t.cells.find((c) => c.family === fam);
  if (n && n.circuits != null) th.append(span("row-sub", `${n.circuits} circuits`));
  return th;
}

/** "2–5" for a range (a single value when min = max). */
export const rangeText = (r) => (r.min === r.max ? formatCount(r.min) : `${formatCount(r.min)}–${formatCount(r.max)}`);

/** The error share's line: "err 20%", with its range over seeds in the title only. */
function errorSpan(c) {
  const e = c.error_share_median ?? null;
  const el = span("cell-err", e === null ? "" : `err ${formatShare(e)}`);
  if (e !== null && e > 0) el.classList.add("nonzero");
  return el;
}

/** One cell: the count under the current rule, both counts in data-*, its small lines. */
function cell(c, basis, fam, { view, marked, selected }) {
  const td = document.createElement("td");
  const local = c.local_edges_median ?? null;
  const global = c.global_edges_median ?? null;
  const error = c.error_share_median ?? null;
  Object.assign(td.dataset, { basis, family: fam, local: JSON.stringify(local), global: JSON.stringify(global), error: JSON.stringify(error) });
  td.tabIndex = 0;
  td.style.setProperty("--hue", nodeSetColor(basis));
  const range = seedRange(c, view);
  const value = range ? range.median : view === "local" ? local : global;
  let small = "";
  if (view === "local" && c.own_share_median != null) small = `own ${Math.round(100 * c.own_share_median)}%`;
  else if (view === "global" && c.union_nodes_median != null) small = plural(c.union_nodes_median, "node");
  const num = span("num", formatCount(value));
  if (range) {
    Object.assign(td.dataset, { median: JSON.stringify(range.median), min: JSON.stringify(range.min), max: JSON.stringify(range.max) });
    num.append(span("range", ` (${rangeText(range)})`));
  }
  td.append(num, span("cell-sub", small), errorSpan(c));
  if (marked) td.classList.add("story-mark");
  if (selected) td.setAttribute("aria-current", "true");
  const seeds = (state.data.table && state.data.table.seeds) || null;
  const counted = range ? `median ${plural(value, `${view} edge`)} over ${seeds.length} seeds, range ${rangeText(range)}` : plural(value, `${view} edge`);
  td.setAttribute("aria-label", `${basis}, ${fam} circuits: ${counted}` + (small ? `, ${small}` : "") +
    (error !== null ? `, error share ${formatShare(error)}` : "") + ". Press Enter to show these graphs.");
  const es = c.across_seeds && c.across_seeds.error_share;
  td.title =
    (range ? `median over seeds ${seeds[0]}–${seeds[seeds.length - 1]}: ${formatCount(range.median)} (range ${rangeText(range)})\nseed ${seeds[0]} alone:\n` : "") +
    `local edges (median): ${formatCount(local)}\n` +
    `global edges (median): ${formatCount(global)}\n` +
    `nodes touched over the dataset (median): ${formatCount(c.union_nodes_median ?? null)}\n` +
    `own share (median): ${c.own_share_median == null ? "–" : Math.round(100 * c.own_share_median) + "%"}\n` +
    `error node's share of |attribution| (median): ${error === null ? "–" : formatShare(error)}` +
    (es ? ` (over seeds ${formatShare(es.min)}–${formatShare(es.max)})` : "") + "\n" +
    `circuits: ${c.circuits ?? "–"}`;
  return td;
}

export function render(root) {
  const t = state.data.table;
  if (!t) return;
  if (!wired) {
    root.addEventListener("click", onClick);
    root.addEventListener("keydown", onKey);
    wired = true;
  }
  const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && focused.dataset ? [focused.dataset.basis, focused.dataset.family] : null;
  const view = state.ui.view;
  const marks = stepMarks();
  const bases = shownBases();
  const cells = new Map(t.cells.map((c) => [`${c.basis}\u0000${c.family}`, c]));
  const family = selectedFamily();

  const table = document.createElement("table");
  table.className = "counts";
  table.id = "counts-table";
  table.dataset.view = view;
  const cap = document.createElement("caption");
  cap.className = "visually-hidden";
  cap.textContent = `${view === "local" ? "Local" : "Global"} edge counts, median over each family's circuits. Columns are node sets, rows are circuit families.`;
  table.appendChild(cap);
  headerRow(table, bases);
  const tbody = table.createTBody();
  for (const fam of t.families) {
    const tr = tbody.insertRow();
    tr.dataset.family = fam;
    tr.appendChild(rowHeader(t, fam));
    for (const b of bases) {
      const key = `${b.id}\u0000${fam}`;
      tr.appendChild(cell(cells.get(key) || {}, b.id, fam,
        { view, marked: marks.has(key), selected: state.ui.basis === b.id && family === fam }));
    }
  }
  root.replaceChildren(table);
  if (refocus) {
    const again = [...table.querySelectorAll("td")].find(
      (td) => td.dataset.basis === refocus[0] && td.dataset.family === refocus[1],
    );
    if (again) again.focus();
  }
}
