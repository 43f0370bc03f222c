// The trained SAE's result: a header naming the column (kind, width, sparsity, steps, seed,
// training time) and its metrics measured on held-out inputs (L0, explained variance, dead
// latents, shrinkage, MCC and |cos| > 0.9 matches against the planted animals and attributes).

import { plural } from "./format.js";
import { nodeSetColor } from "./colors.js";
import { el } from "./controls.js";
import { state, usesL1 } from "./state.js";
import { els, fixed, pct, saeBasis } from "./saestate.js";

const METRICS = [
  ["l0", "L0", "latents firing per input", (v) => fixed(v, 1)],
  ["explained_variance", "explained variance", "1 − residual / total variance", (v) => fixed(v, 3)],
  ["dead_fraction", "dead", "latents that never fire on held-out inputs", (v) => pct(v)],
  ["shrinkage", "shrinkage", "length lost along the input (0 = none)", (v) => fixed(v, 3)],
  ["mcc_animals", "MCC vs animals", "Hungarian matching of decoder rows to animal directions", (v) => fixed(v, 3)],
  ["mcc_attributes", "MCC vs attributes", "Hungarian matching to attribute directions", (v) => fixed(v, 3)],
  ["match_animals", "latents ≈ an animal", "live latents with |cos| > 0.9 to some animal", (v) => String(v ?? "–")],
  ["match_attributes", "latents ≈ an attribute", "live latents with |cos| > 0.9 to some attribute", (v) => String(v ?? "–")],
];

/** The SAE column's header line, its metrics list and how many true features it recovered. */
export function renderMetrics() {
  const b = saeBasis();
  const box = els.metrics;
  box.replaceChildren();
  box.hidden = !b;
  if (!b) return;
  const s = b.sae.config;
  const m = b.sae.metrics || {};
  const head = el("p", { className: "sae-head" });
  const sw = el("span", { className: "swatch", "aria-hidden": "true" });
  sw.style.setProperty("--hue", nodeSetColor(b.id));
  const sparsity = usesL1(s.kind) ? `λ = ${s.l1}` : `k = ${s.k}`;
  head.append(sw, el("strong", { text: b.id }),
    ` — ${s.kind}, ${plural(s.width, "latent")}, ${sparsity}, ${plural(s.steps, "step")}, seed ${s.seed}` +
    `${m.train_s != null ? `; trained in ${m.train_s} s` : ""}; measured on ${m.eval_samples ?? "held-out"} held-out inputs.`);
  const dl = el("dl", { className: "sae-metrics", "data-basis": b.id });
  for (const [key, label, help, fmt] of METRICS) {
    const dt = el("dt", { title: help, text: label });
    const dd = el("dd", { "data-metric": key, "data-value": JSON.stringify(m[key] ?? null), text: fmt(m[key]) });
    dl.append(el("div", {}, dt, dd));
  }
  box.append(head, dl);
  if (m.animals_recovered != null) {
    box.append(el("p", { className: "caption", text:
      `${m.animals_recovered} of ${state.config.animals} animals and ${m.attributes_recovered} of ${state.config.attributes} attributes have a latent at |cos| > 0.9. ` +
      "Each of its nodes in the graphs is labelled with its nearest true feature and that cosine; what it does not reconstruct goes to the error node." }));
  }
}
