// The learned per-circuit view, in the "Learned dictionaries" section once an SAE is trained.
//
// - For each circuit, the server finds the sparsest decomposition of its read direction (fit
//   `read`) or of the reader's input (fit `input`) over the trained SAE's live atoms, and counts
//   its edges with the table's rule: GET /api/v1/sae/table?...&learned=<fit>, key `learned`
//   (basisgraph.dictionaries.learned). Nothing here needs the true features. With "Also use
//   atoms of" (learnedwith.js, state.ui.learned_with) the pool is the union of the shown SAE's
//   atoms and one more cached SAE's (`&learned_with=<spec>`).
// - Beside it, the oracle `mixed` (which reads each circuit in the true features), the error
//   shares of both, and the two comparisons the API counts: firing circuits within one edge of
//   the oracle, and those that also leave at most `error_slack` more in the error node.
// - The fit is state.ui.learned (link key `learned`, written only when it is not `read`). The
//   counts follow the local/global toggle. Every number shown is a field of the JSON.

import { ApiError, fetchLearned } from "./api.js";
import { familyColor } from "./colors.js";
import { el } from "./controls.js";
import { inlineData } from "./datasource.js";
import { formatCount } from "./format.js";
import * as withSae from "./learnedwith.js";
import { configParams, LEARNED_FITS, saeParams, state, update } from "./state.js";

const FIT_LABELS = { read: "Read direction", input: "Reader's input" };
const FIT_TEXT = {
  read: "of its read direction over the unit atoms (geometry only, like the oracle)",
  input: "of the reader's input r·a, on the inputs where it fires, over the atoms' code columns",
};

let root = null;
const els = {};
let loaded = null; // { key, data }: the last answer
let pending = null; // the key being fetched
let failed = null; // { key, message }

const share = (v) => (v == null ? "–" : Number(v).toFixed(2));

function saeBasis() {
  const t = state.data.table;
  return t && state.ui.sae && state.ui.model === "planted" ? (t.bases || []).find((b) => b.sae) || null : null;
}

function queryKey() {
  const p = configParams(state.config);
  for (const [k, v] of saeParams(state.ui.sae)) p.set(k, v);
  p.set("learned", state.ui.learned);
  if (withSae.withSpec()) p.set("learned_with", withSae.withSpec());
  return p.toString();
}

async function load(key) {
  pending = key;
  failed = null;
  render();
  try {
    const body = await fetchLearned(state.config, state.ui.sae, state.ui.learned, withSae.withSpec());
    if (pending !== key) return;
    loaded = { key, data: body.learned };
  } catch (err) {
    if (pending !== key) return;
    if (err instanceof ApiError && err.status === 503) {
      // The server is busy with this configuration: ask again shortly.
      await new Promise((r) => setTimeout(r, 2000));
      if (pending === key) load(key);
      return;
    }
    failed = { key, message: err.message };
  }
  pending = null;
  render();
}

// ---- drawing ---------------------------------------------------------------------------------

const GROUPS = { learned: "learned (no ground truth)", oracle: "oracle: uses the true features", compare: "within one edge of the oracle" };
const NARROW_PX = 840; // below this the wide table would scroll: turn it, one column per family

/** What each row (or column) shows: [group, JSON key of a family's cell, label, text of a cell]. */
function measures(view) {
  const count = (c, k) => formatCount(c[k]);
  const frac = (c, k) => share(c[k]);
  const within = (c, k) => `${c[k]} of ${c.firing}`;
  return [
    ["learned", "atoms_median", "atoms", count],
    ["learned", `${view}_edges_median`, `${view} edges`, count],
    ["learned", "error_share_median", "error share", frac],
    ["oracle", `oracle_${view}_edges_median`, `${view} edges`, count],
    ["oracle", "oracle_error_share_median", "error share", frac],
    ["compare", `within_1_${view}`, "all", within],
    ["compare", `within_1_explained_${view}`, "and explained", within],
  ];
}

function numCell(c, [group, key, , text], start) {
  const cls = `${group}${start ? " start" : ""}${key.endsWith("edges_median") ? " edges" : ""}`;
  return el("td", { className: cls, "data-family": c.family, "data-key": key, "data-value": JSON.stringify(c[key] ?? null), text: text(c, key) });
}

function familyHead(c, scope) {
  const th = el("th", { scope }, el("span", { className: "fam-mark", "aria-hidden": "true" }), c.family,
    el("span", { className: "row-sub", text: `${c.firing} of ${c.circuits} fire` }));
  th.style.setProperty("--hue", familyColor(c.family));
  return th;
}

/** Wide: one row per family, the learned, oracle and comparison columns side by side. */
function wideTable(view, data) {
  const ms = measures(view);
  const first = (i) => i === 0 || ms[i - 1][0] !== ms[i][0];
  const groups = Object.keys(GROUPS).map((g) => el("th", { scope: "colgroup", colspan: ms.filter((m) => m[0] === g).length,
    className: `${g} start`, text: GROUPS[g] }));
  const head = el("thead", {}, el("tr", {}, el("td", { className: "corner" }), ...groups),
    el("tr", {}, el("th", { scope: "col", className: "corner", text: "circuits" }),
      ...ms.map((m, i) => el("th", { scope: "col", className: `${m[0]}${first(i) ? " start" : ""}`, text: m[2] }))));
  const body = el("tbody");
  for (const c of data.cells) {
    body.append(el("tr", { "data-family": c.family }, familyHead(c, "row"), ...ms.map((m, i) => numCell(c, m, first(i)))));
  }
  return [head, body];
}

/** Narrow (a phone): one column per family, the numbers in row groups. */
function narrowTable(view, data) {
  const head = el("thead", {}, el("tr", {}, el("td", { className: "corner" }), ...data.cells.map((c) => familyHead(c, "col"))));
  const bodies = Object.keys(GROUPS).map((g) => {
    const body = el("tbody", { className: g },
      el("tr", {}, el("th", { scope: "rowgroup", colspan: data.cells.length + 1, className: `group ${g}`, text: GROUPS[g] })));
    for (const m of measures(view).filter((x) => x[0] === g)) {
      body.append(el("tr", {}, el("th", { scope: "row", className: "measure", text: m[2] }), ...data.cells.map((c) => numCell(c, m, false))));
    }
    return body;
  });
  return [head, ...bodies];
}

function drawTable(view, data, narrow) {
  const cap = el("caption", { className: "visually-hidden",
    text: `Learned per-circuit view of ${data.sources.join(", ")} beside the oracle, ${view} counts (medians per family)` });
  return el("table", { className: `learned-table ${narrow ? "narrow" : "wide"}`, "data-fit": data.fit, "data-view": view },
    cap, ...(narrow ? narrowTable(view, data) : wideTable(view, data)));
}

function summary(view, data) {
  const t = data.totals;
  return `All families: ${t[`within_1_${view}`]} of ${t.firing} firing circuits have a learned ${view} count within one edge of the oracle's; ` +
    `${t[`within_1_explained_${view}`]} of them also leave at most ${data.error_slack} more of their attribution in the error node than the oracle does ` +
    "(zero edges is within one edge of one, yet explains nothing).";
}

const SHOW_ATOMS = 4; // picked atoms named in the circuit's line; the rest are counted

/** The circuit picked for the graphs, as this view reads it (its support labels are for reading only). */
function circuitLine(view, data) {
  const c = data.circuits.find((x) => x.id === state.ui.circuit);
  if (!c) return null;
  const atoms = c.support.slice(0, SHOW_ATOMS).map((s) => `${s.node} (${s.label}) × ${s.weight}`).join(", ");
  const more = c.support.length > SHOW_ATOMS ? ` and ${c.support.length - SHOW_ATOMS} more` : "";
  const edges = (v) => (v == null ? "no count (it never fires)" : `${formatCount(v)} ${view} edge${v === 1 ? "" : "s"}`);
  const line = el("p", { className: "learned-circuit", "data-circuit": c.id },
    el("strong", { text: `The circuit in the graphs, ${c.id}: ` }),
    `${c.atoms} atom${c.atoms === 1 ? "" : "s"}${atoms ? ` (${atoms}${more})` : ""}, relative miss ${c.miss}; ` +
    `${edges(c[`${view}_edges`])}, error share ${share(c.error_share)}. The oracle: ${edges(c[`oracle_${view}_edges`])}, error share ${share(c.oracle_error_share)}. ` +
    "Each atom's label names its nearest true feature, for reading only: the pursuit never sees it.");
  return line;
}

function method(data) {
  return `For each circuit: orthogonal matching pursuit ${FIT_TEXT[data.fit] || ""}, over the ${data.atoms} live atoms of ${data.sources.join(", ")}, ` +
    `until what is left is at most ${data.tol} of it (at most ${data.max_atoms} atoms). Each picked atom's edge is its weight × its learned code; ` +
    "what the atoms miss goes to the error node, and the edges are counted with the table's rule (medians over each family's circuits). " +
    "The oracle (mixed) reads each circuit in the true features: a reference, not something one could run on a real model.";
}

export function render() {
  if (!root) return;
  const b = saeBasis();
  root.hidden = !b;
  if (!b) return;
  const fit = state.ui.learned;
  for (const f of LEARNED_FITS) els.fits[f].checked = f === fit;
  withSae.render();
  const key = queryKey();
  const fresh = loaded && loaded.key === key;
  root.dataset.state = fresh ? "drawn" : pending === key ? "loading" : failed && failed.key === key ? "failed" : "idle";
  root.dataset.fit = fit;
  root.dataset.with = withSae.withSpec() || "";
  if (!fresh) {
    if (inlineData()) {
      els.status.textContent = "This file carries no learned per-circuit view: open basisgraph to compute it.";
      els.body.replaceChildren();
      return;
    }
    if (pending !== key && !(failed && failed.key === key)) {
      queueMicrotask(() => load(key));
      return;
    }
    els.status.textContent = failed && failed.key === key
      ? `The learned view could not be computed: ${failed.message}`
      : `Decomposing each circuit over the atoms of ${b.id}${withSae.withSpec() ? ` and ${withSae.withSpec()}` : ""}…`;
    if (failed) els.body.replaceChildren();
    return;
  }
  const data = loaded.data;
  const view = state.ui.view;
  els.status.textContent = "";
  els.body.replaceChildren(
    el("details", { className: "method" }, el("summary", { text: "How the learned view is computed" }), el("p", { text: method(data) })),
    el("div", { className: "table-wrap learned-wrap" }, drawTable(view, data, root.clientWidth < NARROW_PX)),
    el("p", { className: "learned-summary", text: summary(view, data) }),
  );
  const line = circuitLine(view, data);
  if (line) els.body.append(line);
}

export function init(el_) {
  root = el_;
  const fs = el("fieldset", { className: "segmented fit" }, el("legend", { text: "Fit" }));
  els.fits = {};
  for (const f of LEARNED_FITS) {
    const id = `learned-fit-${f}`;
    const input = el("input", { type: "radio", name: "learned-fit", id, value: f });
    input.addEventListener("change", () => {
      if (input.checked) update({ ui: { learned: f } }, "push", "learned");
    });
    els.fits[f] = input;
    fs.append(input, el("label", { for: id, text: FIT_LABELS[f] }));
  }
  els.status = el("p", { className: "status", role: "status", "aria-live": "polite" });
  els.body = el("div", { className: "learned-body" });
  root.append(
    el("div", { className: "section-head" }, el("h3", { id: "learned-h", text: "Per circuit, over the learned atoms (needs no ground truth)" }),
      el("div", { className: "learned-controls" }, fs, withSae.init())),
    el("p", { className: "caption", text:
      "The table above counts each dictionary on its own. Here each circuit is read the way a practitioner could: as the fewest of this SAE's atoms (or, with “Also use atoms of”, of the union of two SAEs' atoms) that rebuild what the circuit reads, found without the true features. " +
      "Beside it, the oracle's counts, which use the true features. Counts follow the local/global toggle at the top." }),
    els.status, els.body);
  root.setAttribute("aria-labelledby", "learned-h");
  if ("ResizeObserver" in window) {
    // The table turns on narrow screens: redraw when the width crosses NARROW_PX.
    let narrow = null;
    new ResizeObserver(() => {
      const now = root.clientWidth < NARROW_PX;
      if (narrow !== null && now !== narrow && loaded) requestAnimationFrame(render);
      narrow = now;
    }).observe(root);
  }
  render();
}
