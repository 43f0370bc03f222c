// The learned view's "Also use atoms of" select: one more SAE of this configuration whose atoms
// join the shown SAE's in the pursuit's pool (GET /api/v1/sae/table?...&learned_with=<spec>).
//
// - The choices are the SAEs the server has cached for this configuration (GET
//   /api/v1/sae/cached, which computes nothing), less the SAE shown. Default: none.
// - The choice is state.ui.learned_with (link key `learned_with`, written only with an SAE).
//   A link may name an SAE this server has not trained: it is kept as a choice, and the learned
//   view then shows the API's 404 message.

import { tryCall } from "./api.js";
import { el } from "./controls.js";
import { inlineData } from "./datasource.js";
import { configParams, parseSae, saeSpec, state, update } from "./state.js";
import { specLabel } from "./saestate.js";

let select = null;
let listed = null; // { key, specs }: the cached SAEs of the last configuration asked about
let asking = null; // the configuration query being asked about

const listKey = () => configParams(state.config, { omit: ["alpha"] }).toString();

/** The spec of the shown SAE, normalised ("" when none). */
function shown() {
  const s = state.ui.sae ? parseSae(state.ui.sae) : null;
  return s ? saeSpec(s) : "";
}

/** The extra SAE the learned view uses now (null: none, or the shown SAE itself). */
export function withSpec() {
  const w = state.ui.learned_with;
  return w && w !== shown() ? w : null;
}

async function load(key) {
  asking = key;
  const res = await tryCall(`sae/cached?${key}`);
  if (asking !== key) return;
  if (res.status === 503) {
    await new Promise((r) => setTimeout(r, 2000));
    if (asking === key) load(key);
    return;
  }
  asking = null;
  const saes = res.ok ? res.body.saes || [] : [];
  const specs = saes.map((p) => saeSpec({ kind: p.kind, width: p.width, sparsity: p.sparsity, steps: p.steps, seed: p.sae_seed }));
  listed = { key, specs: [...new Set(specs)] };
  render();
}

/** Refill the select: "none", then every other cached SAE (and the link's choice, if not among them). */
export function render() {
  if (!select) return;
  const key = listKey();
  // An exported file has no server to ask (and no learned view): nothing to list.
  if (!inlineData() && (!listed || listed.key !== key) && asking !== key) queueMicrotask(() => load(key));
  const me = shown();
  const specs = (listed && listed.key === key ? listed.specs : []).filter((s) => s !== me);
  const pick = withSpec();
  if (pick && !specs.includes(pick)) specs.push(pick);
  const options = [el("option", { value: "", text: "none (this SAE only)" }),
    ...specs.map((s) => el("option", { value: s, text: specLabel(parseSae(s)) }))];
  select.replaceChildren(...options);
  select.value = pick || "";
  select.dataset.state = listed && listed.key === key ? "listed" : "loading";
}

/** The labelled select, for the learned view's head. */
export function init() {
  select = el("select", { id: "learned-with", name: "learned_with" });
  select.addEventListener("change", () => update({ ui: { learned_with: select.value || null } }, "push", "learned_with"));
  const box = el("label", { className: "learned-with", for: "learned-with" }, el("span", { text: "Also use atoms of" }), select);
  render();
  return box;
}
