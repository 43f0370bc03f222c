// What a panel says beside its drawing about causes rather than attributions (issue 11): the
// node set's causal scores from the version-2 panel's `causal` block, and the sentence that the
// edges divide the reader's input r·a before its threshold, with the output's share of it. Both
// are read from the panel JSON; nothing is recomputed here.

import { thresholdOf } from "./panelnodes.js";

const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

/**
 * The node set's causal scores (version-2 panels): how much of the output the counted edges
 * reproduce with every other node and the error node ablated, and the error node's share of
 * |attribution|; for the oracle, the true features its recipe leaves out that still move r·a.
 */
export function causalLine(graph, fmtW) {
  const c = graph && graph.causal;
  if (!c) return null;
  const p = document.createElement("p");
  p.className = "panel-causal";
  p.dataset.kept = JSON.stringify(c.kept_output_fraction ?? null);
  p.dataset.error = JSON.stringify(c.error_fraction ?? null);
  const b = document.createElement("strong");
  b.textContent = "Causal check: ";
  let text = c.kept_output_fraction === null || c.kept_output_fraction === undefined
    ? "the circuit never fires here"
    : `each input's counted edges alone (all else ablated) give ${pct(c.kept_output_fraction)} of y`;
  text += `; error node: ${pct(c.error_fraction)} of |attribution|`;
  if (c.unlisted_over_1pct) text += `; ${c.unlisted_over_1pct} true features outside the recipe each move r·a by over 1%`;
  p.append(b, `${text}.`);
  p.title = "Ablate every node the count does not keep (and the error node): the reader then sees only the counted edges. " +
    "Over the inputs where the circuit fires, the share of its output that survives; and the error node's share of all |attribution|." +
    (c.unlisted && c.unlisted.length
      ? ` Largest features outside the recipe (r·a falls by): ${c.unlisted.map((u) => `${u.label} ${fmtW(u.ablation_pre)}`).join(", ")}.`
      : "");
  return p;
}

/**
 * The sentence under the circuit's description: edges attribute r·a, not y, and here y is that
 * share of r·a (the threshold node carries the rest); null on the trained model or when the
 * circuit does not fire. `trained`: the page shows the trained MLP, whose outputs have no b.
 */
export function thresholdNote(g, trained, fmtW) {
  const planted = g && g.model !== "trained" && !trained;
  const share = planted && g.active !== false && g.total > 0 ? g.output / g.total : null;
  if (share === null) return null;
  const s = document.createElement("span");
  s.className = "threshold-note";
  s.dataset.share = String(share);
  s.textContent = ` The edges divide the reader's input r·a (${fmtW(g.total)}) before its threshold, not its output: ` +
    (thresholdOf(g) !== null
      ? `y is ${(100 * share).toFixed(0)}% of r·a here, and the dashed threshold node (−b) on each panel carries the rest.`
      : "this reader's threshold is 0, so here y equals r·a.");
  return s;
}
