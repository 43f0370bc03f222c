// In-page data source for the one-file HTML export. An exported file has no server: the API
// answers it needs travel inline in <script type="application/json" id="basisgraph-data">
// (written by basisgraph/htmlexport.py), and api.js asks here before it would fetch.
//
// Requests are matched by meaning, not by URL text: the configuration must equal the carried
// one, except for coverage. Anything the file does not carry is answered with a 404 that says
// what the file does carry.

import { BASE_DEFAULTS, V1_VALUES, VERSION, parseQuery } from "./state.js";

let cached; // undefined: not looked yet; null: this page is not an export

/** The export's data block, or null on the served page. */
export function inlineData() {
  if (cached === undefined) {
    const el = typeof document !== "undefined" ? document.getElementById("basisgraph-data") : null;
    cached = el ? JSON.parse(el.textContent) : null;
  }
  return cached;
}

/** The link state the export was made from (the page reads it instead of location.search). */
export function inlineQuery() {
  const d = inlineData();
  return d ? d.query : null;
}

function sameConfig(params, carried, withCoverage) {
  // The page's API queries carry no `v`: the API reads them with today's defaults. A version-1
  // body leaves out the keys added since; they then hold version 1's values.
  const { config } = parseQuery(`v=${VERSION}&${params.toString()}`);
  if (!("residual" in carried)) carried = { ...carried, ...V1_VALUES };
  // Bodies leave out keys at their default when that default changes no earlier number.
  carried = { attribute_law: BASE_DEFAULTS.attribute_law, attributes_on: BASE_DEFAULTS.attributes_on, ...carried };
  // Only the keys the page knows: a newer server may carry more, which the page never sends.
  return Object.keys(config).every((k) => (k === "coverage" && !withCoverage) || config[k] === carried[k]);
}

/**
 * Answer one API request from the inline data: {data} or {error: {status, field, message}};
 * null when this page is not an export (api.js then fetches as usual).
 */
export function answer(endpoint, params) {
  const d = inlineData();
  if (!d) return null;
  const carried = d.table.config;
  const missing = (field, message) => ({ error: { status: 404, field, message } });
  // Coverage is ignored for the table too: the file carries the table at one τ (it says so
  // under the table), while the graphs prune live at any τ from their coverage curves.
  if (!sameConfig(params, carried, false)) {
    return missing("config", "this file carries one configuration only; open basisgraph to change it");
  }
  // A file carries one model: the planted one, or the trained MLP (its table says "trained").
  const trained = d.table.model === "trained";
  if (endpoint === "table" || endpoint === "trained/table") {
    if (trained === (endpoint === "trained/table")) return { data: d.table };
    return missing("model", `this file carries the ${trained ? "trained" : "planted"} model only; open basisgraph to see the other`);
  }
  if (endpoint === "model") return { data: d.model };
  if (endpoint === "graph" || endpoint === "trained/graph") {
    if (trained !== (endpoint === "trained/graph")) return missing("model", "this file carries one model only");
    const key = `${params.get("basis")}|${params.get("circuit")}|${params.get("input")}`;
    if (d.graphs[key]) return { data: d.graphs[key] };
    return missing("circuit", "this file carries the graphs of the circuits and inputs listed in its pickers only");
  }
  return missing(null, `this file does not carry /${endpoint}`);
}
