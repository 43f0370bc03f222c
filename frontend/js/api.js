// The frontend's one fetch client for the JSON API. `call` is the only place that fetches;
// study answers are deterministic functions of the query, so getJSON memoises them (a small LRU
// of promises): going back, or back and forth between two settings, re-renders without
// touching the network. Job answers (jobs.js) go through `call` uncached: their point is to change.

import { answer } from "./datasource.js";
import { configParams, saeParams, state, UI_DEFAULTS } from "./state.js";

// The API lives beside /static: resolve it from this module's own URL so the page also works
// when it is mounted under a prefix or framed from another origin.
const BASE = new URL("../../api/v1/", import.meta.url);
const MAX_ENTRIES = 200;
const cache = new Map();

// How many nodes a panel draws individually; the API folds the rest into one "+N more" node.
export const TOP = 30;
export const MAX_TOP = 2000; // the API's most (basisgraph.core.graphs.MAX_TOP)

export class ApiError extends Error {
  constructor(status, field, message) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function describeError(status, body) {
  const d = body && body.detail;
  if (Array.isArray(d) && d.length) {
    const first = d[0] || {};
    const loc = Array.isArray(first.loc) ? first.loc[first.loc.length - 1] : null;
    const allowed = first.allowed ? ` (expected ${first.allowed})` : "";
    return { field: loc ? String(loc) : null, message: `${loc || "request"}: ${first.msg || "invalid"}${allowed}` };
  }
  if (typeof d === "string") return { field: null, message: d };
  return { field: null, message: `the API answered HTTP ${status}` };
}

/**
 * {status, ok, body} of one request to `path` under /api/v1 (body null when not JSON).
 * `fresh` bypasses the HTTP cache (jobs); a network failure rejects. A POST sends "{}" as JSON.
 */
export async function call(path, { method = "GET", fresh = true } = {}) {
  const init = { method, credentials: "omit", headers: { Accept: "application/json" }, ...(fresh ? { cache: "no-store" } : {}) };
  // A POST starts a job: the server takes only a JSON body (so no other site's form can start one).
  if (method === "POST") Object.assign(init, { body: "{}", headers: { ...init.headers, "Content-Type": "application/json" } });
  const r = await fetch(new URL(path, BASE), init);
  let body = null;
  try {
    body = await r.json();
  } catch (_) {
    body = null;
  }
  return { status: r.status, ok: r.ok, body };
}

/** {status, ok, body} like `call`, with a network failure as status 0 and a detail to show. */
export async function tryCall(path, method = "GET") {
  try {
    return await call(path, { method });
  } catch (_) {
    return { ok: false, status: 0, body: { detail: "the server could not be reached" } };
  }
}

function getJSON(endpoint, params) {
  const url = new URL(endpoint, BASE);
  url.search = params.toString();
  const key = url.href;
  if (cache.has(key)) {
    const hit = cache.get(key);
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const inline = answer(endpoint, params); // a one-file export answers from its own data
  if (inline) {
    const e = inline.error;
    return e ? Promise.reject(new ApiError(e.status, e.field, e.message)) : Promise.resolve(inline.data);
  }
  const promise = call(`${endpoint}?${params}`, { fresh: false }).then(({ status, ok, body }) => {
    if (!ok) {
      const { field, message } = describeError(status, body);
      throw new ApiError(status, field, message);
    }
    return body;
  });
  cache.set(key, promise);
  promise.catch(() => cache.delete(key));
  while (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value);
  return promise;
}

/** GET /api/v1/table: the edge-count table for a config; across `seeds` seeds when above 1. */
export function fetchTable(config, seeds = state.ui.seeds) {
  const p = configParams(config);
  if (seeds > 1) p.set("seeds", String(seeds));
  return getJSON("table", p);
}

/** GET /api/v1/model: names, circuits, examples, node sets. Coverage does not change it. */
export function fetchModel(config) {
  return getJSON("model", configParams(config, { omit: ["coverage"] }));
}

/**
 * GET /api/v1/graph: one panel. Coverage is left out on purpose: the drawing is pruned in the
 * browser from `coverage_curve`, so moving the slider never refetches panels.
 */
export function fetchGraph(config, basis, circuit, input, top = TOP, sae = state.ui.sae, model = state.ui.model) {
  const p = configParams(config, { omit: ["coverage"] });
  const trained = model === "trained";
  // A learned dictionary's panel also names the SAE (its id carries only kind and width); the
  // trained model's panels use the SAEs its table compares, so they need no SAE keys.
  if (basis.startsWith("sae:") && !trained) for (const [k, v] of saeParams(sae)) p.set(k, v);
  p.set("basis", basis);
  p.set("circuit", circuit);
  p.set("input", input);
  p.set("top", String(top));
  if (trained) setTarget(p);
  return getJSON(trained ? "trained/graph" : "graph", p);
}

/** Add the trained MLP's `target` to a query unless it is the default. */
export function setTarget(p, target = state.ui.target) {
  if (target && target !== UI_DEFAULTS.target) p.set("target", target);
  return p;
}

/** GET /api/v1/trained/table: edge counts on the trained MLP (404 until it has been built). */
export function fetchTrainedTable(config, target = state.ui.target) {
  return getJSON("trained/table", setTarget(configParams(config), target));
}

/** GET /api/v1/sae/table: the table with a trained SAE appended (404 if it is not trained). */
export function fetchSaeTable(config, sae) {
  const p = configParams(config);
  for (const [k, v] of saeParams(sae)) p.set(k, v);
  return getJSON("sae/table", p);
}

/**
 * GET /api/v1/sae/table?learned=<fit>: the same table plus `learned`, the per-circuit view over
 * the SAE's atoms (no ground truth) beside the oracle's counts (404 if the SAE is not trained).
 */
export function fetchLearned(config, sae, fit, withSae = null) {
  const p = configParams(config);
  for (const [k, v] of saeParams(sae)) p.set(k, v);
  p.set("learned", fit);
  if (withSae) p.set("learned_with", withSae); // one more SAE's atoms in the union
  return getJSON("sae/table", p);
}

/** Every shown node set's panel for one circuit and input, as a Map from node-set id. */
export async function fetchPanels(config, bases, circuit, input, top = TOP) {
  const graphs = await Promise.all(bases.map((b) => fetchGraph(config, b.id, circuit, input, top)));
  return new Map(bases.map((b, i) => [b.id, graphs[i]]));
}

/** GET /api/v1/sweep: the union dictionary's counts for alpha from 0 to 1 (alpha itself is left out). */
export function fetchSweep(config, steps = 11) {
  const p = configParams(config, { omit: ["alpha"] });
  p.set("steps", String(steps));
  return getJSON("sweep", p);
}

/**
 * GET /api/v1/sweep/samples: every node set's counts at dataset sizes from 500 up. `samples`
 * is what varies, so it is left out (the server's grid stops where its budget does).
 */
export function fetchSamplesSweep(config) {
  return getJSON("sweep/samples", configParams(config, { omit: ["samples"] }));
}

/** Whether an answer for this query is already held (used to skip loading indicators). */
export function isCached(endpoint, params) {
  const url = new URL(endpoint, BASE);
  url.search = params.toString();
  return cache.has(url.href);
}
