// The seeds control: count the table over 1 to MAX_SEEDS consecutive seeds (GET /api/v1/table
// ?seeds=n). Each seed draws a new model, circuits and dataset, so the range of a cell over the
// seeds says how much of its number is the luck of one draw. With more than one seed the table's
// cells show the median with its range and the bars a whisker (table.js, chart.js); the link
// carries `seeds`. The rest of the page (the story, the panels) stays on the configured seed.

import { el } from "./controls.js";
import { formatShare } from "./format.js";
import { MAX_SEEDS, state, update } from "./state.js";

const CHOICES = [1, 3, 5, 7, MAX_SEEDS];
let select = null;
let hint = null;

export function init(root) {
  select = el("select", { id: "pick-seeds", name: "seeds", "aria-describedby": "pick-seeds-hint" });
  for (const n of CHOICES) select.append(el("option", { value: String(n), text: n === 1 ? "1 (this seed)" : `${n} seeds` }));
  select.addEventListener("change", () => update({ ui: { seeds: Number(select.value) } }, "push", "controls"));
  hint = el("span", { id: "pick-seeds-hint", className: "hint" });
  root.replaceChildren(el("label", { for: "pick-seeds", text: "Uncertainty: count over" }), select, hint);
}

/** The control and its hint from the state and the table shown. */
export function sync() {
  if (!select) return;
  const n = state.ui.seeds || 1;
  if (!CHOICES.includes(n)) select.append(el("option", { value: String(n), text: `${n} seeds` }));
  select.value = String(n);
  const t = state.data.table;
  const seeds = t && t.seeds;
  select.disabled = state.ui.model === "trained";
  hint.textContent = state.ui.model === "trained"
    ? "ranges over seeds are computed for the planted model only"
    : seeds && seeds.length > 1
      ? `each cell: the median over seeds ${seeds[0]}–${seeds[seeds.length - 1]} (each a new model and dataset), with the smallest and largest value in brackets; the bars draw that range as a whisker`
      : "more seeds show each cell's median and range (one table per seed)";
}

/** The sentence the table's caption adds about error shares (and seeds, when counted). */
export function captionNote(t) {
  if (!t || !t.cells || !t.cells.some((c) => c.error_share_median !== undefined)) return "";
  const mixed = t.cells.filter((c) => c.basis === "mixed" && c.error_share_median > 0);
  const worst = mixed.length ? Math.max(...mixed.map((c) => c.error_share_median)) : null;
  return " “err” is the error node's share of the total |attribution| (median over circuits): drawn but never counted, " +
    "0 for every dictionary" + (worst !== null ? `, up to ${formatShare(worst)} for the per-circuit oracle, whose interference it holds.` : ".");
}
