// One rounding rule for every number the views show (the CLI and the preview image use the
// same one, basisgraph.fmt.format_count): whole numbers as they are, anything else
// with one decimal, so a median of 314.5 reads 314.5 everywhere.

/** "314.5", "87", "–" for a missing value. */
export function formatCount(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Number.isInteger(v)) return String(v);
  const s = v.toFixed(1);
  return s.endsWith(".0") ? s.slice(0, -2) : s;
}

/** "1 edge", "2 edges", "314.5 edges". */
export function plural(v, word) {
  return `${formatCount(v)} ${word}${v === 1 ? "" : "s"}`;
}

/** A share as a percentage: "0%", "<1%", "20%" (the error node's share of |attribution|). */
export function formatShare(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (x === 0) return "0%";
  if (Math.abs(x) < 0.01) return "<1%";
  return `${Math.round(100 * x)}%`;
}
