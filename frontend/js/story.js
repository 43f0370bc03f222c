// The guided path: which numbers make the argument, read from the API's table (never typed in).
//
// Pure functions of the table JSON (GET /api/v1/table) and a count ("local" | "global"):
//   countOf          the configured seed's number for a cell under a count (what the graphs show)
//   seedRange        a cell's median and range over seeds, when counted across seeds
//   shownCount       the number the table cell shows: the median over seeds when counted
//                    across seeds, else countOf (one rounding rule: format.js)
//   circuitCount     one circuit's number under a count (the table's per-circuit stats)
//   medianCircuit    the circuit a cell opens: the one whose count is nearest the cell's median
//   clearestCircuit  the circuit of a family that the node sets disagree on most (global count)
//   countSentence    the one visible sentence saying what the count is and what it shows
//   steps            the four steps (animal, attribute, half-size union, per-circuit view), each
//                    with the cells that make its point and a takeaway built from their numbers

import { formatCount } from "./format.js";

export const KEYS = { local: "local_edges_median", global: "global_edges_median" };
const STAT = { local: "local_edges", global: "global_edges" };
const DICTIONARIES = ["animal", "attribute", "half"];
const NAMES = {
  animal: "The animal dictionary",
  attribute: "The attribute dictionary",
  half: "The half-size union of both",
  mixed: "The per-circuit view",
};
const TITLES = {
  animal: "Animal dictionary",
  attribute: "Attribute dictionary",
  half: "Both, at half strength",
  mixed: "Per-circuit view",
};

const edges = (v) => `${formatCount(v)} edge${v === 1 ? "" : "s"}`;

function cellMap(table) {
  return new Map(table.cells.map((c) => [`${c.basis}\u0000${c.family}`, c]));
}

/** The table cell's number for (basis, family) under `view`, or null. */
export function countOf(table, basis, family, view) {
  const c = cellMap(table).get(`${basis}\u0000${family}`);
  return c ? c[KEYS[view]] ?? null : null;
}

/** One circuit's number under `view` for a node set, from the table's per-circuit stats. */
export function circuitCount(table, circuitId, basis, view) {
  const c = (table.circuits || []).find((x) => x.id === circuitId);
  const s = c && c.stats && c.stats[basis];
  return s ? s[STAT[view]] ?? null : null;
}

/** The circuit of `family` whose count under `view` is nearest the cell's median (first on ties). */
export function medianCircuit(table, basis, family, view) {
  const target = countOf(table, basis, family, view);
  let best = null;
  let gap = Infinity;
  for (const c of table.circuits || []) {
    if (c.family !== family || !c.active_inputs) continue;
    const v = circuitCount(table, c.id, basis, view);
    if (v === null || target === null) continue;
    const d = Math.abs(v - target);
    if (d < gap) {
      gap = d;
      best = c.id;
    }
  }
  return best;
}

/** The circuit of `family` with the widest spread of global counts over the dictionaries. */
export function clearestCircuit(table, family) {
  let best = null;
  let spread = -1;
  for (const c of table.circuits || []) {
    if (c.family !== family || !c.active_inputs || !c.stats) continue;
    const vals = DICTIONARIES.map((b) => c.stats[b] && c.stats[b].global_edges).filter((v) => v != null);
    if (vals.length < 2) continue;
    const s = Math.max(...vals) - Math.min(...vals);
    if (s > spread) {
      spread = s;
      best = c.id;
    }
  }
  return best;
}

function has(table, ids) {
  const bases = new Set(table.bases.map((b) => b.id));
  return ids.every((id) => bases.has(id));
}

/** A cell's spread over seeds under `view` ({median, min, max}), or null for one seed. */
export function seedRange(c, view) {
  const a = c && c.across_seeds;
  return a ? a[STAT[view]] || null : null;
}

/** The number the table cell shows for (basis, family): across seeds, their median. */
export function shownCount(table, basis, family, view) {
  const r = seedRange(cellMap(table).get(`${basis}\u0000${family}`), view);
  return r ? r.median : countOf(table, basis, family, view);
}

/** The one sentence under the Count toggle: what is counted and what that count shows. */
export function countSentence(table, view) {
  const cfg = table.config || {};
  const tau = Number(cfg.coverage ?? 0.9).toFixed(2);
  const rule = view === "global"
    ? `Global count: the fewest edges whose mean |attribution| over all ${Number(cfg.samples).toLocaleString("en")} inputs covers τ = ${tau}`
    : `Local count: the fewest edges covering τ = ${tau} of one input's |attribution| (median over the inputs where the circuit fires)`;
  if (!has(table, [...DICTIONARIES, "mixed"])) return `${rule}; every view below uses it.`;
  // The sentence quotes the cells as shown (medians over seeds when the table is counted so).
  const worst = DICTIONARIES.map((b) => Math.max(...table.families.map((f) => shownCount(table, b, f, view) ?? 0)));
  const mixedMax = Math.max(...table.families.map((f) => shownCount(table, "mixed", f, view) ?? 0));
  return `${rule}. On it every dictionary has a family of circuits that needs at least ` +
    `${edges(Math.min(...worst))}, while the per-circuit view needs at most ${edges(mixedMax)}; ` +
    `the table, the bars and the graphs all use this count.`;
}

/**
 * The steps of the guided path. Each: {id, title, basis, family, circuit, cells, text}.
 * A dictionary's step marks its best and worst family (its point: one family simple, one
 * tangled); the per-circuit view's step marks every family. Clicking a step shows the worst
 * family's median circuit in that node set.
 */
export function steps(table, view) {
  if (!has(table, [...DICTIONARIES, "mixed"])) return [];
  const out = [];
  for (const basis of [...DICTIONARIES, "mixed"]) {
    const vals = table.families
      .map((family) => ({ family, value: shownCount(table, basis, family, view) }))
      .filter((d) => d.value !== null);
    if (!vals.length) continue;
    const sorted = [...vals].sort((a, b) => a.value - b.value);
    const lo = sorted[0];
    const hi = sorted[sorted.length - 1];
    let cells;
    let text;
    if (basis === "mixed") {
      cells = vals.map((d) => ({ basis, family: d.family }));
      const b = table.bases.find((x) => x.id === "mixed");
      const ratio = b && b.reconstruction_norm_ratio != null ? Number(b.reconstruction_norm_ratio).toFixed(2) : null;
      text = `${NAMES.mixed} keeps every family small (` +
        vals.map((d) => `${d.family} ${formatCount(d.value)}`).join(", ") + ")" +
        (ratio ? `, but it is no dictionary: its nodes add up to ${ratio}× the activation.` : ".");
    } else {
      cells = [{ basis, family: lo.family }, { basis, family: hi.family }];
      text = `${NAMES[basis]}: ${lo.family} circuits need ${edges(lo.value)}, ` +
        `${hi.family} circuits ${edges(hi.value)}` +
        (hi.value > lo.value ? ` (${formatCount(hi.value / Math.max(lo.value, 1e-9))}× as many).` : ".");
    }
    const circuit = medianCircuit(table, basis, hi.family, view);
    const c = (table.circuits || []).find((x) => x.id === circuit);
    if (c) text += ` The graphs show “${c.label}”, the ${hi.family} circuit nearest that median.`;
    out.push({ id: basis, title: TITLES[basis], basis, family: hi.family, cells, text, circuit });
  }
  return out;
}
