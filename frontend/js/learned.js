// The learned per-circuit view, in the "Learned dictionaries" section once an SAE is trained.
//
// - For each circuit, the server finds the sparsest decomposition of its read direction (fit
//   `read`) or of the reader's input (fit `input`) over the trained SAE's live atoms, and counts
//   its edges with the table's rule: GET /api/v1/sae/table?...&learned=<fit>, key `learned`
//   (basisgraph.dictionaries.learned). Nothing here needs the true features.
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
  return p.toString();
}

async function load(key) {
  pending = key;
  failed = null;
  render();
  try {
    const body = await fetchLearned(state.config, state.ui.sae, state.ui.learned);
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

function numCell(family, key, value, text, cls) {
  return el("td", { className: cls, "data-family": family, "data-key": key, "data-value": JSON.stringify(value ?? null), text });
}

function drawTable(view, data) {
  const colgroup = (label, span, cls) => el("th", { scope: "colgroup", colspan: span, className: cls, text: label });
  const col = (label, cls) => el("th", { scope: "col", className: cls, text: label });
  const head = el("thead", {},
    el("tr", {}, el("td", { className: "corner" }), colgroup("learned (no ground truth)", 3, "learned start"),
      colgroup("oracle: true features", 2, "oracle start"), colgroup("within one edge of the oracle", 2, "compare start")),
    el("tr", {}, el("th", { scope: "col", className: "corner", text: "circuits" }),
      col("atoms", "learned start"), col(`${view} edges`, "learned"), col("error share", "learned"),
      col(`${view} edges`, "oracle start"), col("error share", "oracle"),
      col("all", "compare start"), col("and explained", "compare")));
  const body = el("tbody");
  for (const c of data.cells) {
    const fam = el("th", { scope: "row" }, el("span", { className: "fam-mark", "aria-hidden": "true" }), c.family,
      el("span", { className: "row-sub", text: `${c.firing} of ${c.circuits} fire` }));
    fam.style.setProperty("--hue", familyColor(c.family));
    const count = (key, cls) => numCell(c.family, key, c[key], formatCount(c[key]), cls);
    const within = (key, cls) => numCell(c.family, key, c[key], `${c[key]} of ${c.firing}`, cls);
    body.append(el("tr", { "data-family": c.family }, fam,
      count("atoms_median", "learned start"), count(`${view}_edges_median`, "learned edges"),
      numCell(c.family, "error_share_median", c.error_share_median, share(c.error_share_median), "learned"),
      count(`oracle_${view}_edges_median`, "oracle start edges"),
      numCell(c.family, "oracle_error_share_median", c.oracle_error_share_median, share(c.oracle_error_share_median), "oracle"),
      within(`within_1_${view}`, "compare start"), within(`within_1_explained_${view}`, "compare")));
  }
  const cap = el("caption", { className: "visually-hidden",
    text: `Learned per-circuit view of ${data.sources.join(", ")} beside the oracle, ${view} counts (medians per family)` });
  return el("table", { className: "learned-table", "data-fit": data.fit, "data-view": view }, cap, head, body);
}

function summary(view, data) {
  const t = data.totals;
  return `All families: ${t[`within_1_${view}`]} of ${t.firing} firing circuits have a learned ${view} count within one edge of the oracle's; ` +
    `${t[`within_1_explained_${view}`]} of them also leave at most ${data.error_slack} more of their attribution in the error node than the oracle does ` +
    "(zero edges is within one edge of one, yet explains nothing).";
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
  const key = queryKey();
  const fresh = loaded && loaded.key === key;
  root.dataset.state = fresh ? "drawn" : pending === key ? "loading" : failed && failed.key === key ? "failed" : "idle";
  root.dataset.fit = fit;
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
      : `Decomposing each circuit over the atoms of ${b.id}…`;
    if (failed) els.body.replaceChildren();
    return;
  }
  const data = loaded.data;
  const view = state.ui.view;
  els.status.textContent = "";
  els.body.replaceChildren(
    el("p", { className: "caption method", text: method(data) }),
    el("div", { className: "table-wrap learned-wrap" }, drawTable(view, data)),
    el("p", { className: "learned-summary", text: summary(view, data) }),
  );
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
    el("div", { className: "section-head" }, el("h3", { id: "learned-h", text: "Per circuit, over the learned atoms (needs no ground truth)" }), fs),
    el("p", { className: "caption", text:
      "The table above counts each dictionary on its own. Here each circuit is read the way a practitioner could: as the fewest of this SAE's atoms that rebuild what the circuit reads, found without the true features. " +
      "Beside it, the oracle's counts, which use the true features. Counts follow the local/global toggle at the top." }),
    els.status, els.body);
  root.setAttribute("aria-labelledby", "learned-h");
  render();
}
