// A panel's numbers, from one /api/v1/graph answer: the badge at a coverage τ (from the
// panel's coverage_curve), the nodes worth a row, and the edges to draw with the count each
// carries. Pure functions of the graph JSON; panels.js draws them.
//
// badge = coverage_curve[round(τ·100)]; that many top edges are drawn one by one (count 1).
// If the badge is larger than the nodes the API returned individually, the API's "+N more" node
// carries the remainder (count = badge − drawn). Otherwise the returned nodes beyond the badge
// and the "+N more" node are drawn as one grey folded edge that is not counted (count 0). So
// in every panel, Σ count over edges = the badge.

import d3 from "./d3.js";

export const MORE = "more";
export const ERROR = "error";
export const THRESHOLD = "threshold";

/**
 * The reader's threshold as drawn: y − r·a (−b where the circuit fires; over the dataset −b
 * times the fraction of inputs where it fires), or null when it has none to show (inactive,
 * or the trained model, whose outputs are not r·a − b).
 */
export function thresholdOf(graph) {
  if (!graph || graph.model === "trained" || graph.active === false || graph.active === 0) return null;
  if (typeof graph.output !== "number" || typeof graph.total !== "number") return null;
  const t = graph.output - graph.total;
  return t < 0 ? t : null;
}

export function badgeFor(graph, tau) {
  if (!graph || graph.active === false || graph.edge_count === null) return 0;
  const curve = graph.coverage_curve;
  if (!Array.isArray(curve) || !curve.length) return graph.edge_count || 0;
  const i = Math.max(0, Math.min(curve.length - 1, Math.round(tau * 100)));
  return curve[i] || 0;
}

export function splitNodes(graph) {
  const nodes = (graph && graph.nodes) || [];
  const feats = nodes
    .filter((n) => n.kind !== MORE && n.kind !== ERROR && n.id !== MORE && n.id !== ERROR)
    .map((n, i) => ({ ...n, rank: n.rank ?? i }))
    .sort((a, b) => a.rank - b.rank);
  const more = nodes.find((n) => (n.kind === MORE || n.id === MORE) && (n.count || 0) > 0) || null;
  const error = nodes.find((n) => n.kind === ERROR || n.id === ERROR) || null;
  return { feats, more, error };
}

export const absOf = (f) => f.abs ?? Math.abs(f.weight || 0);

/**
 * Feature nodes worth a row: every node that could be counted (the first coverage_curve[100])
 * and every node whose |weight| is not numerically zero next to the panel's largest.
 */
export function visibleFeats(graph) {
  const { feats } = splitNodes(graph);
  const curve = graph.coverage_curve || [];
  const maxCount = curve.length ? curve[curve.length - 1] || 0 : feats.length;
  const top = d3.max(feats, absOf) || 0;
  const eps = top * 1e-9;
  return feats.filter((f, i) => absOf(f) > 0 && (i < maxCount || absOf(f) > eps));
}

/** The edges to draw for a badge of n, with the data-count each carries. */
export function edgesFor(graph, n) {
  const { feats, more, error } = splitNodes(graph);
  const edges = [];
  const nonzero = feats.filter((f) => absOf(f) > 0);
  const k = Math.min(n, nonzero.length);
  for (let i = 0; i < k; i++) {
    const f = nonzero[i];
    edges.push({ key: f.id, source: f.id, weight: f.weight, abs: absOf(f), count: 1, kind: "single", label: f.label });
  }
  if (n > nonzero.length && more) {
    edges.push({
      key: MORE, source: MORE, weight: more.weight, abs: absOf(more),
      count: n - nonzero.length, total: more.count, kind: "folded", label: more.label,
    });
  } else {
    // Everything beyond the badge (returned nodes and the API's "+N more") as one grey edge.
    const rest = nonzero.slice(k);
    const m = rest.length + (more ? more.count : 0);
    if (m > 0) {
      edges.push({
        key: MORE, source: MORE, count: 0, total: m, kind: "pruned", label: `+${m} beyond τ`,
        weight: d3.sum(rest, (f) => f.weight) + (more ? more.weight : 0),
        abs: d3.sum(rest, absOf) + (more ? absOf(more) : 0),
      });
    }
  }
  if (error && Math.abs(error.weight || 0) > 0) {
    edges.push({ key: ERROR, source: ERROR, weight: error.weight, abs: Math.abs(error.weight), count: 0, kind: "error", label: "error" });
  }
  return edges;
}

export function totalAbs(graph) {
  const { feats, more, error } = splitNodes(graph);
  return (
    d3.sum(feats, (f) => f.abs ?? Math.abs(f.weight)) +
    (more ? more.abs ?? Math.abs(more.weight) : 0) +
    (error ? Math.abs(error.weight || 0) : 0)
  );
}
