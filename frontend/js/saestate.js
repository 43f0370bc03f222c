// The learned-dictionary card's one place of module-level state, and the small helpers its
// views share: the card's elements, the last training job started here, the link's SAE that
// could not be shown, the sweep's answer, and the hooks sae.js wires up (redraw the card,
// refetch the page). The other sae*.js modules read and write these only through the
// functions below (the one-file export copies imported values, so no `let` is exported).

import { plural } from "./format.js";
import { describeError } from "./api.js";
import { inlineData } from "./datasource.js";
import { configParams, saeParams, state, usesL1 } from "./state.js";

/** The card's elements, filled in by the views' builders (a shared object, never replaced). */
export const els = {};

let job = null; // the last job started from this page: the API's job JSON plus its spec
let jobRun = 0; // bumped by each new job, so an older poll stops writing
let missing = null; // { spec, message }: the link's SAE could not be shown
let sweep = { key: null, data: null, pending: false, error: null };
let formFor = null; // the spec or config the form was last filled from
let hooks = { render: () => {}, refresh: () => {} };

/** The job shown in the progress bar, or null. */
export const currentJob = () => job;
export function setJob(j) {
  job = j;
}

/** Start a new job run and return its number; isRun(n) is false once a newer one started. */
export const nextRun = () => ++jobRun;
export const isRun = (n) => n === jobRun;

/** The link's SAE that could not be shown, as { spec, message }, or null. */
export const missingSae = () => missing;
export function setMissing(m) {
  missing = m;
}

/** The sweep: { key, data, pending, error } (key: the query its data answers). */
export const sweepState = () => sweep;
export function setSweep(s) {
  sweep = s;
}

/** What the form was last filled from (a spec or "config:n"). */
export const formSource = () => formFor;
export function setFormSource(f) {
  formFor = f;
}

/** sae.js's redraw of the whole card and the page's refetch. */
export function setHooks(h) {
  hooks = { ...hooks, ...h };
}
export const rerender = () => hooks.render();
export const refreshPage = () => hooks.refresh();

export const offline = () => Boolean(inlineData()); // a one-file export: no server to train on
export const fixed = (v, n) => (v == null ? "–" : Number(v).toFixed(n));
export const pct = (v) => (v == null ? "–" : `${(100 * v).toFixed(1)}%`);

export function describe(body, status) {
  return describeError(status, body).message;
}

/** "sae:relu:1050 (λ = 3, 3,000 steps, seed 0)" for a parsed spec. */
export function specLabel(s) {
  if (!s) return "";
  const sp = usesL1(s.kind) ? `λ = ${s.sparsity}` : `k = ${s.sparsity}`;
  return `sae:${s.kind}:${s.width} (${sp}, ${plural(s.steps, "step")}, seed ${s.seed})`;
}

/** The table's SAE column (a basis with .sae), or null. */
export function saeBasis() {
  const t = state.data.table;
  return t && state.ui.sae ? (t.bases || []).find((b) => b.sae) || null : null;
}

/** The query of a job for `spec` on `config`. */
export function jobParams(spec, config = state.config) {
  const p = configParams(config, { omit: ["coverage", "alpha"] });
  for (const [k, v] of saeParams(spec)) p.set(k, v);
  return p;
}

export function setStatus(text, level = "") {
  els.status.textContent = text;
  els.status.className = `status ${level}`.trim();
}
