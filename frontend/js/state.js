// The single state object of the page, and the URL <-> state mapping.
//
// state.config  the study configuration (the API's query keys), always complete and valid
// state.ui      view choices: model, view, show, basis, circuit, input, node, sae
// state.data    the last API answers (table, model, graphs by node-set id)
// state.notices messages shown to the reader (e.g. an invalid link value that fell back)
//
// Views read `state` and ask for changes with `update()`; main.js listens, keeps the URL in step
// (pushState for discrete choices, debounced replaceState for sliders) and re-renders.

export const VERSION = 2;

// Mirrors basisgraph.config: ranges of every configuration field and the presets' values.
// A browser test checks these defaults against GET /api/v1/table?preset=<name>.
// They are also the defaults of link version 1 (LINK_DEFAULTS[1] in basisgraph/links.py): links
// omit defaults, so if a default ever changes, keep these as the v=1 table, bump VERSION, and
// have parseQuery fill a v=1 link's missing keys from it (see README, "Share and embed").
export const PRESET_NAMES = ["post", "bunny", "wide", "small"];
export const BASE_DEFAULTS = Object.freeze({
  animals: 1000,
  attributes: 50,
  random_dims: 0,
  active: 1,
  samples: 2000,
  seed: 0,
  coverage: 0.9,
  alpha: 0.5,
  circuits: 20,
  overlay: 0.25,
  composite_weight: 0.2,
  residual: "sparse",
  overlay_sampling: "stratified",
  attribute_law: "gaussian", // added later; its default changes no earlier link (config.OPTIONAL)
  attributes_on: 3,
});
// Version 1 predates `residual` and `overlay_sampling`: its links read them as these values
// (config.LEGACY in basisgraph/config.py), and a state holding them is written as a v=1 link.
export const V1_VALUES = Object.freeze({ residual: "minnorm", overlay_sampling: "topup" });
export const PRESETS = Object.freeze({
  post: Object.freeze({}),
  bunny: Object.freeze({ animals: 4, attributes: 2, samples: 400, circuits: 4 }),
  wide: Object.freeze({ random_dims: 50 }),
  small: Object.freeze({ animals: 200, attributes: 20, samples: 1000, circuits: 8 }),
});
export const PRESET_LABELS = {
  post: "post: 1000 animals, 50 attributes",
  bunny: "bunny: 4 animals, 2 attributes",
  wide: "wide: 50 attributes + 50 random dims",
  small: "small: 200 animals, 20 attributes",
};

// kind int|float; min/max inclusive unless minOpen. `slider` fields get a range input.
export const FIELDS = Object.freeze({
  animals: { kind: "int", min: 2, max: 100000, label: "Animals N", help: "sparse animal features" },
  attributes: { kind: "int", min: 1, max: 1024, label: "Attributes d", help: "dense attribute directions" },
  random_dims: { kind: "int", min: 0, max: 1024, label: "Random dims", help: "extra dimensions where animals are random" },
  active: { kind: "int", min: 1, max: 16, label: "Active k", help: "animals active in each input" },
  samples: { kind: "int", min: 1, max: 20000, label: "Samples", help: "inputs in the dataset" },
  seed: { kind: "int", min: 0, max: 4294967295, label: "Seed", help: "seed for every random draw" },
  circuits: { kind: "int", min: 1, max: 64, label: "Circuits / family", help: "circuits in each family" },
  coverage: { kind: "float", min: 0, minOpen: true, max: 1, step: 0.01, slider: true, label: "Coverage τ", help: "fraction of |attribution| the counted edges cover" },
  alpha: { kind: "float", min: 0, max: 1, step: 0.01, slider: true, label: "Union α", help: "animal weight in the union dictionary (0.5 = half-size union)" },
  overlay: { kind: "float", min: 0, max: 1, step: 0.01, slider: true, label: "Overlay p", help: "chance an input carries an attribute overlay" },
  composite_weight: { kind: "float", min: 0, minOpen: true, max: 1, step: 0.01, slider: true, label: "Composite w", help: "attribute weight in composite readers" },
  residual: { kind: "choice", choices: ["sparse", "minnorm", "error"], label: "Residual", help: "how the animal dictionary encodes an overlay: fewest animals, all animals (min-norm), or the error node" },
  overlay_sampling: { kind: "choice", choices: ["stratified", "topup"], label: "Overlay draw", help: "stratified: overlay rate as set; topup: version 1's draw, rate above the setting" },
  attribute_law: { kind: "choice", choices: ["gaussian", "binary"], label: "Attribute law", help: "gaussian: signed weights on every attribute; binary: a few attributes switched on, positive weights" },
  // `needs`: the field only matters when another key has this value (the control is disabled otherwise).
  attributes_on: { kind: "int", min: 1, max: 64, label: "Attributes on", help: "attributes switched on per animal (binary law)", needs: ["attribute_law", "binary"] },
});
export const CONFIG_KEYS = ["preset", ...Object.keys(FIELDS)];
export const UI_KEYS = ["model", "target", "view", "show", "basis", "circuit", "input", "node", "sae", "seeds", "learned", "learned_with"];
// The table across seeds (GET /api/v1/table?seeds=n): at most core/seeds.MAX_SEEDS.
export const MAX_SEEDS = 9;
// The learned per-circuit view's fit (learned.js; basisgraph.dictionaries.learned.FITS).
export const LEARNED_FITS = ["read", "input"];
export const MODELS = ["planted", "trained"];
// The trained MLPs (basisgraph.jobs.trained.TARGET_NAMES): one reader unit per circuit, or
// fewer hidden units than circuits (computation in superposition).
export const TARGETS = ["aligned", "superposed"];
export const UI_DEFAULTS = Object.freeze({
  model: "planted", // "trained": the MLP trained on the planted circuits, with its SPD (trained.js)
  target: "aligned", // which trained MLP (TARGETS); only read on the trained model
  view: "local", // the link default of v=1 (a link without `view` counts locally)
  show: null, // null: every node set the API lists
  basis: null, // the node set picked from the table (emphasised panel)
  circuit: null, // null: the model's first circuit
  input: "dataset",
  node: null, // highlighted node id
  sae: null, // a trained SAE shown as an extra column: "kind:width[:sparsity[:steps[:seed]]]"
  seeds: 1, // seeds the table is counted over (cells show the median and range when > 1)
  learned: "read", // what the learned view decomposes (LEARNED_FITS); links carry it with an SAE
  learned_with: null, // one more cached SAE (spec) whose atoms join the learned view's union; links carry it with an SAE
  step: null, // the story step whose cells are marked (story.js); not part of links
  top: null, // nodes listed per panel after "+N more" was expanded (api.js TOP when null); not in links
});
// A bare visit (no query at all) opens on the story's choices: the global count, which is the
// one that shows the argument (over a dataset every dictionary has a family it tangles), and
// the clearest attribute circuit (story.js). Every link, with or without `v`, keeps its v=1
// meaning, so old links open exactly as before; toQuery writes `view=global` explicitly.
export const FRESH_VIEW = "global";
const MAX_SAMPLES_X_DIMS = 20000000;
const ID_RE = /^[A-Za-z0-9_.:+\- ]{1,128}$/;
const NODE_SET_RE = /^(?:[a-z]+(?::[0-9.]+)?|sae:[a-z]+:[0-9]{1,5})$/;
// Node ids on the trained model: spd:c3, spd:c1+c4 (a cluster), hidden:12.
const NODE_RE = /^(?:[A-Za-z0-9_.:+\- ]{1,128}|spd:c[0-9]{1,5}(?:\+c[0-9]{1,5}){0,63})$/;

// A learned dictionary (sae.js): kind, width, sparsity (l1 for relu/matryoshka, k for the TopK
// kinds), steps and seed; links omit trailing parts equal to these defaults.
export const SAE_KINDS = ["relu", "topk", "batchtopk", "matryoshka"];
export const SAE_DEFAULTS = Object.freeze({ l1: 1, k: 4, steps: 3000, seed: 0 });
const SAE_RE = /^(relu|topk|batchtopk|matryoshka):([0-9]{1,5})(?::([0-9]{1,4}(?:\.[0-9]{1,6})?)(?::([0-9]{1,5})(?::([0-9]{1,10}))?)?)?$/;

export const usesL1 = (kind) => kind === "relu" || kind === "matryoshka";

/** {kind, width, sparsity, steps, seed} from a spec string, or null if it is not valid. */
export function parseSae(spec) {
  const m = SAE_RE.exec(String(spec || ""));
  if (!m) return null;
  const kind = m[1];
  const sparsity = m[3] !== undefined ? Number(m[3]) : usesL1(kind) ? SAE_DEFAULTS.l1 : SAE_DEFAULTS.k;
  const width = Number(m[2]);
  if (width < 1 || (!usesL1(kind) && (!Number.isInteger(sparsity) || sparsity < 1))) return null;
  return {
    kind, width, sparsity,
    steps: m[4] !== undefined ? Number(m[4]) : SAE_DEFAULTS.steps,
    seed: m[5] !== undefined ? Number(m[5]) : SAE_DEFAULTS.seed,
  };
}

/** The spec string of {kind, width, sparsity, steps, seed}, trailing defaults left out. */
export function saeSpec(s) {
  const parts = [s.kind, String(s.width), String(s.sparsity), String(s.steps), String(s.seed)];
  const defs = [null, null, String(usesL1(s.kind) ? SAE_DEFAULTS.l1 : SAE_DEFAULTS.k), String(SAE_DEFAULTS.steps), String(SAE_DEFAULTS.seed)];
  while (parts.length > 2 && parts[parts.length - 1] === defs[parts.length - 1]) parts.pop();
  return parts.join(":");
}

/** The API's SAE query keys (kind, width, l1 or k, steps, sae_seed) of a spec string. */
export function saeParams(spec) {
  const s = parseSae(spec);
  const p = new URLSearchParams();
  if (!s) return p;
  p.set("kind", s.kind);
  p.set("width", String(s.width));
  p.set(usesL1(s.kind) ? "l1" : "k", String(s.sparsity));
  p.set("steps", String(s.steps));
  p.set("sae_seed", String(s.seed));
  return p;
}

export function presetDefaults(preset) {
  return { preset, ...BASE_DEFAULTS, ...(PRESETS[preset] || {}) };
}

export function describeField(name) {
  const f = FIELDS[name];
  if (f.kind === "choice") return `one of ${f.choices.join(", ")}`;
  const kind = f.kind === "int" ? "a whole number" : "a number";
  return `${kind} ${f.minOpen ? "above" : "from"} ${f.min} to ${f.max}`;
}

/** Parse one field's text; undefined when it is not a valid value. */
export function parseField(name, raw) {
  const f = FIELDS[name];
  if (typeof raw !== "string") raw = String(raw);
  raw = raw.trim();
  if (f.kind === "choice") return f.choices.includes(raw) ? raw : undefined;
  let v;
  if (f.kind === "int") {
    if (!/^-?\d{1,12}$/.test(raw)) return undefined;
    v = Number(raw);
  } else {
    if (!/^-?(\d{1,12}(\.\d{0,12})?|\.\d{1,12})([eE]-?\d{1,3})?$/.test(raw)) return undefined;
    v = roundFloat(Number(raw));
  }
  if (!Number.isFinite(v)) return undefined;
  if (f.minOpen ? v <= f.min : v < f.min) return undefined;
  if (v > f.max) return undefined;
  return v;
}

export function roundFloat(x) {
  return Number(Number(x).toFixed(4));
}

function clip(s) {
  s = String(s);
  return s.length > 40 ? s.slice(0, 37) + "…" : s;
}

export const state = {
  config: presetDefaults("post"),
  ui: { ...UI_DEFAULTS },
  data: { table: null, model: null, graphs: new Map(), loading: false, error: null },
  notices: [],
};

/**
 * Read a query string into {config, ui, notices}. Typed, unknown keys dropped, every invalid
 * value replaced by its default with a notice naming the key.
 */
export function parseQuery(search) {
  const p = new URLSearchParams(search);
  const notices = [];
  const bad = (key, raw, why, fallback) =>
    notices.push({ field: key, message: `Link value ${key}=“${clip(raw)}” is not valid (${why}); using ${fallback}.` });

  const v = p.get("v");
  // Config keys without v predate the key: version 1, like v=1. A bare visit (no v, no config
  // key) is today's page. An unknown version reads as the newest (basisgraph/share/links.py).
  const legacyLink = v === null && CONFIG_KEYS.some((k) => p.has(k));
  const version = v === "1" || legacyLink ? 1 : VERSION;
  if (v !== null && v !== "1" && v !== String(VERSION)) {
    notices.push({ field: "v", message: `Link version “${clip(v)}” is not known; reading it as version ${VERSION}.` });
  }
  let preset = "post";
  if (p.has("preset")) {
    const raw = p.get("preset");
    if (PRESET_NAMES.includes(raw)) preset = raw;
    else bad("preset", raw, `one of ${PRESET_NAMES.join(", ")}`, "the default preset “post”");
  }
  const defs = { ...presetDefaults(preset), ...(version === 1 ? V1_VALUES : {}) };
  const config = { ...defs };
  for (const key of Object.keys(FIELDS)) {
    if (!p.has(key)) continue;
    const raw = p.get(key);
    const val = parseField(key, raw);
    if (val === undefined) bad(key, raw, describeField(key), `the default ${defs[key]}`);
    else config[key] = val;
  }
  if (config.active > config.animals) {
    notices.push({ field: "active", message: `Link value active=${config.active} exceeds animals=${config.animals}; using the default ${defs.active}.` });
    config.active = Math.min(defs.active, config.animals);
  }
  if (config.samples * (config.attributes + config.random_dims) > MAX_SAMPLES_X_DIMS) {
    notices.push({ field: "samples", message: `Link value samples=${config.samples} is too large for ${config.attributes + config.random_dims} dimensions; using the default ${defs.samples}.` });
    config.samples = defs.samples;
    if (config.samples * (config.attributes + config.random_dims) > MAX_SAMPLES_X_DIMS) {
      config.samples = Math.floor(MAX_SAMPLES_X_DIMS / (config.attributes + config.random_dims));
    }
  }

  const ui = { ...UI_DEFAULTS };
  // Bare visits get the story's count; `fresh` lets the controller pick the story's circuit.
  const fresh = [...p.keys()].length === 0;
  if (fresh) ui.view = FRESH_VIEW;
  // A key whose value must be one of `choices` (else a notice, and the default stays).
  const choice = (key, choices, fallback) => {
    if (!p.has(key)) return;
    const raw = p.get(key);
    if (choices.includes(raw)) ui[key] = raw;
    else bad(key, raw, choices.join(" or "), fallback);
  };
  // A key holding an SAE spec, kind:width[:sparsity[:steps[:seed]]], normalised.
  const saeKey = (key, example, fallback) => {
    if (!p.has(key)) return;
    const raw = p.get(key);
    const s = parseSae(raw);
    if (s) ui[key] = saeSpec(s);
    else bad(key, raw, `kind:width[:sparsity[:steps[:seed]]], e.g. ${example}`, fallback);
  };
  choice("model", MODELS, "the planted model");
  choice("target", TARGETS, "the aligned MLP");
  choice("view", ["local", "global"], "local");
  if (p.has("show")) {
    const raw = p.get("show");
    const ids = raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (ids.length && ids.length <= 16 && ids.every((s) => NODE_SET_RE.test(s))) ui.show = [...new Set(ids)];
    else bad("show", raw, "a comma-separated list of node-set ids", "every node set");
  }
  saeKey("sae", "relu:1050:1", "no learned dictionary");
  if (p.has("seeds")) {
    const raw = p.get("seeds");
    const n = /^\d{1,2}$/.test(raw) ? Number(raw) : NaN;
    if (n >= 1 && n <= MAX_SEEDS) ui.seeds = n;
    else bad("seeds", raw, `a whole number from 1 to ${MAX_SEEDS}`, "one seed");
  }
  choice("learned", LEARNED_FITS, "read");
  saeKey("learned_with", "relu:200:1", "the shown SAE's atoms only");
  for (const key of ["basis", "circuit", "input", "node"]) {
    if (!p.has(key)) continue;
    const raw = p.get(key);
    const re = key === "basis" ? NODE_SET_RE : key === "node" ? NODE_RE : ID_RE;
    if (re.test(raw)) ui[key] = raw;
    else bad(key, raw, "not a valid id", "the default");
  }
  return { config, ui, notices, fresh };
}

function fmt(v) {
  return typeof v === "number" && !Number.isInteger(v) ? String(roundFloat(v)) : String(v);
}

/** The config part of a query: preset (unless post) and every field that differs from it. */
export function configParams(config, { omit = [] } = {}) {
  const p = new URLSearchParams();
  const defs = presetDefaults(config.preset);
  if (config.preset !== "post") p.set("preset", config.preset);
  for (const key of Object.keys(FIELDS)) {
    if (omit.includes(key)) continue;
    if (config[key] !== defs[key]) p.set(key, fmt(config[key]));
  }
  return p;
}

export function defaultCircuit(model) {
  return model && model.circuits && model.circuits.length ? model.circuits[0].id : null;
}

/** The canonical query string of a state: v=1 first, defaults omitted, fixed key order. */
export function toQuery(s = state) {
  const p = new URLSearchParams();
  const v1 = Object.entries(V1_VALUES).every(([k, val]) => s.config[k] === val);
  p.set("v", v1 ? "1" : String(VERSION));
  for (const [k, val] of configParams(s.config)) if (!(v1 && k in V1_VALUES)) p.set(k, val);
  const ui = s.ui;
  if (ui.model !== UI_DEFAULTS.model) p.set("model", ui.model);
  if (ui.model === "trained" && ui.target !== UI_DEFAULTS.target) p.set("target", ui.target);
  if (ui.view !== UI_DEFAULTS.view) p.set("view", ui.view);
  if (ui.show) p.set("show", ui.show.join(","));
  if (ui.basis) p.set("basis", ui.basis);
  if (ui.circuit && ui.circuit !== defaultCircuit(s.data.model)) p.set("circuit", ui.circuit);
  if (ui.input && ui.input !== UI_DEFAULTS.input) p.set("input", ui.input);
  if (ui.node) p.set("node", ui.node);
  if (ui.sae) p.set("sae", ui.sae);
  if (ui.seeds && ui.seeds !== UI_DEFAULTS.seeds) p.set("seeds", String(ui.seeds));
  if (ui.sae && ui.learned !== UI_DEFAULTS.learned) p.set("learned", ui.learned);
  if (ui.sae && ui.learned_with) p.set("learned_with", ui.learned_with);
  return p.toString();
}

// ---- the one writer ---------------------------------------------------------------------------

/**
 * Every change to `state` goes through here (views ask with update(); the controller applies
 * with set()). config, ui and data are merged key by key unless `replace`; notices replace.
 */
export function set({ config, ui, data, notices } = {}, { replace = false } = {}) {
  if (config) state.config = replace ? { ...config } : { ...state.config, ...config };
  if (ui) state.ui = replace ? { ...UI_DEFAULTS, ...ui } : { ...state.ui, ...ui };
  if (data) state.data = replace ? { ...data } : { ...state.data, ...data };
  if (notices) state.notices = [...notices];
}

// ---- change requests -------------------------------------------------------------------------

const listeners = new Set();

/** Listen for change requests: fn(change) with change = {config, ui, how, source}. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Ask for a change. `how`: "push" (a discrete choice, new history entry), "replace" (a slider
 * settled: debounced replaceState), "live" (a slider moving: redraw only, no fetch), "none".
 */
export function update({ config = {}, ui = {} } = {}, how = "push", source = "") {
  for (const fn of listeners) fn({ config, ui, how, source });
}

/** Node sets the API lists, in its order, filtered by ui.show. */
export function shownBases(s = state) {
  const bases = (s.data.table && s.data.table.bases) || [];
  if (!s.ui.show) return bases;
  return bases.filter((b) => s.ui.show.includes(b.id));
}
