// Explanatory text: the argument, what the table counts, and what each node set is.
// Written for a reader who has not seen the post; every number comes from the API.

import { nodeSetColor } from "./colors.js";
import { formatCount } from "./format.js";
import { state } from "./state.js";

export const POST_TITLE =
  "The features a model thinks in do not need to form a basis or dictionary for its activations";

const INTRO = [
  "Attribution graphs usually take their nodes from one dictionary, whose weighted atoms add up " +
    "to the activations. This planted model has two real kinds of feature, sparse animals and " +
    "the dense attributes they are made of, and no dictionary holds both. The table counts the " +
    "edges each kind of circuit needs under each choice of nodes.",
];

const NODE_SETS = {
  neuron:
    "The neuron basis: one node per dimension of the activation space. The planted features are " +
    "randomly rotated before they reach the neurons, so this baseline lines up with neither " +
    "animals nor attributes and most circuits spread across many neurons.",
  animal:
    "The animal dictionary: one node per animal direction, coefficients are how strongly each " +
    "animal is present. Circuits that read one animal need a single edge. Circuits that read an " +
    "attribute collect a small edge from every active animal that has it: few on one input, " +
    "hundreds across a dataset.",
  attribute:
    "The attribute dictionary: one node per attribute direction. It is small and exact. " +
    "Attribute circuits need one edge, while an animal circuit is spread over all the " +
    "attributes that make up that animal.",
  half:
    "The half-size union: animal and attribute atoms together, each coefficient halved so the " +
    "sum still rebuilds the activation exactly. A circuit's own node now carries only about " +
    "half of its input; the other half is scattered over nodes of the other kind.",
  union:
    "A weighted union: animal atoms with weight α and attribute atoms with weight 1 − α. It " +
    "still reconstructs the activation exactly; α moves the burden between the two families.",
  mixed:
    "The per-circuit view: every circuit is read in the features it actually uses, at their " +
    "full values. Each family is simple here, but this is not a dictionary: adding up all its " +
    "nodes gives roughly twice the activation, so no single decomposition of the activations " +
    "sits behind it. On the trained model it keeps each circuit's planted recipe and refits " +
    "the weights to the trained network's gradient.",
  spd:
    "Trained model only. The MLP's input weights split into rank-one subcomponents by " +
    "stochastic parameter decomposition (SPD); subcomponents that are always active together " +
    "are merged. A node's value is its causal importance times the input along its read " +
    "direction, and each node is named by the true direction nearest that read direction.",
  hidden:
    "Trained model only. The MLP's own hidden neurons as nodes: a control that shows what " +
    "the weights' native basis gives before any decomposition.",
};

/** A short description of a node set: ours for the known ids, else the API's own. */
export function nodeSetText(basis) {
  const id = basis.id || "";
  if (NODE_SETS[id]) return NODE_SETS[id];
  if (id.startsWith("union")) return NODE_SETS.union;
  return basis.description || "";
}

export function tableCaption(view, tau) {
  const t = Number(tau).toFixed(2);
  return view === "local"
    ? `Local edges: on one input where the circuit fires, the fewest edges whose |attribution| ` +
        `adds up to τ = ${t} of the total (median over inputs, then over the family's circuits). ` +
        `The small line is the own share: how much of the circuit's input its own feature's node carries.`
    : `Global edges: the same rule applied to each edge's mean |attribution| over the whole ` +
        `dataset, τ = ${t} (median over the family's circuits). ` +
        `The small line counts the distinct nodes the circuit touches on any input.`;
}

/** One sentence under a panel: why its count is what it is (`perInput`: the local median). */
export function panelSentence(graph, badge, tau, perInput = false) {
  if (!graph) return "";
  if (graph.active === false || graph.edge_count === null) {
    return "The circuit does not fire on this input, so it has no edges to count.";
  }
  const nodes = graph.nodes || [];
  const feats = nodes.filter((n) => n.kind !== "more" && n.kind !== "error");
  const more = nodes.find((n) => n.kind === "more");
  const totalAbs = feats.reduce((s, n) => s + (n.abs || 0), 0) + (more ? more.abs || 0 : 0);
  const top = feats[0];
  const share = top && totalAbs > 0 ? Math.round((100 * (top.abs || 0)) / totalAbs) : null;
  const edges = badge === 1 ? "1 edge covers" : `${formatCount(badge)} edges cover`;
  if (perInput) {
    return `On one input where it fires, ${edges} τ = ${Number(tau).toFixed(2)} (median); ` +
      `drawn: that many of the strongest edges averaged over the dataset, the rest folded in grey.`;
  }
  let s = `${edges} τ = ${Number(tau).toFixed(2)} of the circuit's |attribution| here.`;
  if (top && share !== null) s += ` The largest, ${top.label}, carries ${share}%.`;
  return s;
}

export function renderIntro(root) {
  root.replaceChildren();
  for (const text of INTRO) {
    const p = document.createElement("p");
    p.textContent = text;
    root.appendChild(p);
  }
  const cite = document.createElement("p");
  cite.className = "cite";
  cite.append("The argument comes from the post “");
  const t = document.createElement("cite");
  t.textContent = POST_TITLE;
  cite.append(t, "”; this page rebuilds its example and counts live.");
  root.appendChild(cite);
}

/** The node-set glossary (one entry per node set the API lists). */
export function renderGlossary(root) {
  const bases = (state.data.table && state.data.table.bases) || [];
  root.replaceChildren();
  for (const b of bases) {
    const dt = document.createElement("dt");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.setProperty("--hue", nodeSetColor(b.id));
    dt.append(sw, `${b.label || b.id}`);
    const dd = document.createElement("dd");
    dd.textContent = nodeSetText(b);
    if (b.is_dictionary === false && b.reconstruction_norm_ratio != null) {
      dd.append(` (Its nodes sum to ${Number(b.reconstruction_norm_ratio).toFixed(2)}× the activation's norm here.)`);
    }
    root.append(dt, dd);
  }
}

const SHORT = {
  neuron: "One node per neuron; the features reach the neurons through a random rotation.",
  animal: "One node per animal direction.",
  attribute: "One node per attribute direction.",
  half: "Animals and attributes together, each at half strength: an exact reconstruction.",
  union: "Animals at weight α, attributes at 1 − α: an exact reconstruction.",
  mixed: "Each circuit read in its own features at full strength. Not a dictionary.",
  spd: "One node per SPD subcomponent of the trained MLP's input weights (co-active ones merged), named by the nearest true direction.",
  hidden: "One node per hidden neuron of the trained MLP: a control, the weights' own basis.",
};

/** One line for a panel header: what this node set is. */
export function nodeSetShort(basis) {
  const id = basis.id || "";
  let s = SHORT[id] || (id.startsWith("union") ? SHORT.union : basis.label || "");
  if (basis.is_dictionary === false && basis.reconstruction_norm_ratio != null) {
    s += ` Its nodes sum to ${Number(basis.reconstruction_norm_ratio).toFixed(2)}× the activation.`;
  }
  return s;
}
