// What SPD found on the trained MLP, from the trained table's JSON (trained.js places it):
// the target, the recovery per family (by |cos|, by the strict tests, with the ablation changes
// of the recovered subcomponents), the circuits recovered, recovered but not causal, and missed
// by name, the decomposition's L0 and faithfulness, and how far the edges are from single-node
// ablations of the MLP (decomposition/ablation.py), with one sentence saying what that means.

import { el } from "./controls.js";

const FAMILIES = ["animal", "attribute", "composite"];
export const TARGET_LABELS = { aligned: "aligned", superposed: "superposed" };

const fix = (v, n) => (v == null ? "–" : Number(v).toFixed(n));
const sci = (v) => (v == null ? "–" : Number(v).toPrecision(2));
const pct = (v) => (v == null ? "–" : `${Math.round(100 * Number(v))}%`);

/** The read-out of `t` (a trained table) into `box`; `box` is hidden when `t` is null. */
export function renderReadout(box, t) {
  const ro = t ? t.readout : null;
  box.hidden = !ro;
  box.replaceChildren();
  if (!ro) return;
  const fit = (ro.fit && ro.fit.fve_per_family) || {};
  const rec = ro.recovery || {};
  const table = el("table", { className: "trained-recovery" });
  const head = table.createTHead().insertRow();
  for (const [h, title] of [
    ["family", null],
    ["MLP fit", "fraction of variance explained on held-out inputs"],
    ["SPD", "circuits whose read direction some significant SPD subcomponent matches"],
    ["W_in rows", "the same test on the MLP's own neurons (its W_in rows)"],
    ["best |cos|", "median over the family's circuits of the best |cosine| with a subcomponent"],
    ["strict, causal", "recovered under the stricter tests (a composite must beat its plain animal direction by a margin), " +
      "and how many of those pass the ablation check (removing the subcomponent changes its circuit by at least 50% " +
      "and every unrelated circuit by at most 10%)"],
    ["ablation own / other", "medians over the strictly recovered circuits: how much removing the subcomponent changes " +
      "its own circuit's output, and the largest change it makes to a circuit sharing no feature with it"],
  ]) {
    head.append(el("th", { scope: "col", text: h, title }));
  }
  const body = table.createTBody();
  for (const fam of FAMILIES.filter((f) => rec[f])) {
    const r = rec[fam];
    const tr = body.insertRow();
    tr.dataset.family = fam;
    tr.append(el("th", { scope: "row", text: fam }));
    const st = ((ro.recovery_strict || {}).families || {})[fam];
    const strict = st ? `${st.recovered}/${st.circuits}, ${st.recovered_and_causal} causal` : "–";
    const abl = st && st.recovered ? `${pct(st.ablation_own_median)} / ${pct(st.ablation_other_median)}` : "–";
    for (const text of [fix(fit[fam], 3), `${r.recovered}/${r.circuits}`, `${r.neuron_rows_recovered}/${r.circuits}`, fix(r.median_best_cos, 3), strict, abl]) {
      tr.append(el("td", { text }));
    }
  }
  const layers = (ro.layers || []).map((l) =>
    `${l.matrix}: ${l.significant} of ${l.components} subcomponents significant, ${l.clusters} node${l.clusters === 1 ? "" : "s"} after merging` +
    `${(l.multi_rank_clusters || []).length ? ` (multi-rank: ${l.multi_rank_clusters.map((c) => c.size).join(", ")})` : ""}, ` +
    `importance L0 ${fix(l.l0_mean, 2)} per input, ‖W − UV‖/‖W‖ = ${sci(l.faithfulness_rel)}`);
  const fa = ro.faithfulness || {};
  const notes = el("ul", { className: "trained-notes" });
  for (const line of [
    ...layers,
    `Output error as a fraction of output variance: ${sci(fa.unmasked)} with every subcomponent on, ${sci(fa.importance_masked)} masked by importance, ${sci(fa.stochastic)} with stochastic masks.`,
  ]) notes.append(el("li", { text: line }));
  const head2 = el("p", { className: "trained-target" });
  head2.append(el("strong", { text: `Target: ${TARGET_LABELS[t.target] || t.target || "custom"} MLP` }),
    ` (${ro.train ? `hidden units ${ro.train.hidden_fraction} × circuits, L1 on W_out ${ro.train.l1_out}, loss ${ro.train.loss}` : ""}` +
    `${ro.spd ? `; SPD from ${ro.spd.init === "random" ? "random initialisation" : `the ${ro.spd.init} start`}, ${ro.spd.steps} steps` : ""}).`);
  box.append(head2, scrolling(table, "Read directions recovered (|cos| > 0.9 with some significant subcomponent)"), renderNames(ro), notes, renderAblation(t));
}

// A titled region that may scroll sideways on a phone: focusable, so a keyboard can scroll it.
// The title sits outside the scroller (a caption would be as wide as the table and scroll away).
function scrolling(table, title) {
  table.setAttribute("aria-label", title);
  const scroll = el("div", { className: "table-scroll" }, table);
  scroll.tabIndex = 0;
  scroll.setAttribute("role", "region");
  scroll.setAttribute("aria-label", `${title} (scrolls sideways)`);
  return el("div", {}, el("p", { className: "table-title", text: title }), scroll);
}

/** Which circuits the strict tests recovered (and whether causally) and which they missed, by name. */
function renderNames(ro) {
  const fams = ((ro.recovery_strict || {}).families) || {};
  const dl = el("dl", { className: "trained-names" });
  for (const fam of FAMILIES.filter((f) => fams[f] && fams[f].names)) {
    const n = fams[fam].names;
    const dd = el("dd");
    dd.dataset.family = fam;
    for (const [key, label] of [["causal", "recovered and causal"], ["not_causal", "recovered, not causal"], ["missed", "missed"]]) {
      const span = el("span", { className: `names ${key}`, text: `${label} (${n[key].length}): ${n[key].length ? n[key].join(", ") : "none"}` });
      span.dataset.kind = key;
      dd.append(span);
    }
    dl.append(el("dt", { text: `${fam} circuits` }), dd);
  }
  return dl;
}

/** Edges against single-node ablations: the disagreement per node set and family. */
function renderAblation(t) {
  const ab = t.ablation;
  const box = el("div", { className: "trained-ablation" });
  if (!ab) return box;
  const cells = new Map(ab.cells.map((c) => [`${c.basis}|${c.family}`, c]));
  const table = el("table", { className: "trained-disagreement" });
  const head = table.createTHead().insertRow();
  head.append(el("th", { scope: "col", text: "node set" }));
  for (const fam of t.families) head.append(el("th", { scope: "col", text: fam }));
  const body = table.createTBody();
  for (const b of t.bases) {
    const tr = body.insertRow();
    tr.dataset.basis = b.id;
    tr.append(el("th", { scope: "row", text: b.id, title: b.label }));
    for (const fam of t.families) {
      const c = cells.get(`${b.id}|${fam}`);
      const td = el("td", { text: c ? pct(c.disagreement) : "–", title: c ? `${c.pairs} input-node pairs` : "" });
      td.dataset.family = fam;
      td.dataset.value = JSON.stringify(c ? c.disagreement : null);
      tr.append(td);
    }
  }
  const why = el("p", { className: "caption" });
  why.textContent = `An edge is gradient × activation, which is what removing its node would do if the MLP were ` +
    `linear; here each node the local count keeps (τ = ${ab.coverage}, on the inputs where the circuit fires) is ` +
    `removed and the MLP rerun, and 0% means the edges are exactly the ablation effects, while a larger number is how far ` +
    `they misstate them, mostly because removing a node switches ReLU units on or off (for mixed, also because its ` +
    `edges are a least-squares refit).`;
  box.append(scrolling(table, "Edges against ablations: Σ|edge − ablation effect| / Σ|ablation effect|"), why);
  return box;
}

