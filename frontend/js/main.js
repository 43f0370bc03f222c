// Boot and wiring. Reads the link into the state, loads the API answers, renders every view,
// and keeps the URL in step with the state:
//   discrete choices  -> pushState (a new history entry)
//   slider movements  -> replaceState, debounced, and a debounced refetch
//   back / forward    -> popstate re-reads the link and re-renders
// document.body.dataset.ready is "true" once everything has rendered and "false" while a
// re-render is pending.

import * as api from "./api.js";
import * as chart from "./chart.js";
import * as controls from "./controls.js";
import { inlineQuery } from "./datasource.js";
import * as explain from "./explain.js";
import * as nodedetail from "./nodedetail.js";
import * as notices from "./notices.js";
import * as panels from "./panels.js";
import * as sae from "./sae.js";
import * as stepsview from "./stepsview.js";
import { clearestCircuit } from "./story.js";
import * as sweep from "./sweep.js";
import * as table from "./table.js";
import * as trained from "./trained.js";
import {
  FIELDS,
  UI_DEFAULTS,
  defaultCircuit,
  parseQuery,
  presetDefaults,
  shownBases,
  state,
  subscribe,
  toQuery,
} from "./state.js";

const DEBOUNCE_MS = 250;
const $ = (id) => document.getElementById(id);

let generation = 0;
let replaceTimer = null;
let refreshTimer = null;
let checkLinkValues = false; // the UI values just came from a link: report the ones that fall back
let retries = 0;
let fresh = false; // a bare visit: open on the story's circuit (state.js, FRESH_VIEW)
let landing = null; // a link that names a circuit or node: scroll to it once it is drawn

function setReady(on) {
  document.body.dataset.ready = on ? "true" : "false";
}

function setBusy(on) {
  for (const id of ["counts", "graphs"]) $(id).setAttribute("aria-busy", on ? "true" : "false");
  document.body.classList.toggle("loading", on);
}

// ---- notices ----------------------------------------------------------------------------------

function renderNotices() {
  notices.render($("notices"), (i) => {
    state.notices.splice(i, 1);
    renderNotices();
  });
}

function addNotice(n) {
  if (!state.notices.some((x) => x.message === n.message)) state.notices.push(n);
  renderNotices();
}

function dropTransientNotices() {
  const before = state.notices.length;
  state.notices = state.notices.filter((n) => !n.transient);
  if (state.notices.length !== before) renderNotices();
}

// ---- URL --------------------------------------------------------------------------------------

function currentUrl() {
  return location.pathname + location.search + location.hash;
}

function wantedUrl() {
  return `${location.pathname}?${toQuery(state)}${location.hash}`;
}

let historyWorks = true;

function writeUrl(mode) {
  if (!historyWorks) return;
  const url = wantedUrl();
  if (url === currentUrl()) return;
  try {
    if (mode === "push") history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  } catch (_) {
    // Some sandboxed frames (opaque origin) refuse URL rewrites: keep the state in memory only.
    historyWorks = false;
  }
}

function scheduleReplace() {
  clearTimeout(replaceTimer);
  replaceTimer = setTimeout(() => {
    replaceTimer = null;
    writeUrl("replace");
  }, DEBOUNCE_MS);
}

function flushReplace() {
  if (replaceTimer === null) return;
  clearTimeout(replaceTimer);
  replaceTimer = null;
  writeUrl("replace");
}

function loadFromLocation() {
  // A one-file export opens with no query of its own: it carries the state it was made from.
  const parsed = parseQuery(location.search || inlineQuery() || "");
  const { config, ui, notices: found } = parsed;
  state.config = config;
  state.ui = ui;
  fresh = parsed.fresh;
  landing = ui.node || ui.circuit ? { node: ui.node, circuit: ui.circuit } : null;
  for (const n of found) addNotice(n);
  checkLinkValues = true;
}

// ---- resolving UI values against the API's lists ----------------------------------------------

function resolveUi() {
  const warn = checkLinkValues;
  checkLinkValues = false;
  const ui = state.ui;
  const ids = state.data.table.bases.map((b) => b.id);
  if (ui.show) {
    const lost = ui.show.filter((id) => !ids.includes(id));
    let keep = ui.show.filter((id) => ids.includes(id));
    // The union's id carries α; when α moves, keep showing the union that is listed now.
    if (lost.some((id) => id.startsWith("union"))) {
      const u = ids.find((id) => id.startsWith("union"));
      if (u) keep.push(u);
    }
    keep = ids.filter((id) => keep.includes(id));
    if (lost.length && warn) {
      addNotice({
        field: "show",
        message: `Link value show lists unknown node sets (${lost.join(", ").slice(0, 60)}); ${keep.length ? "they are left out" : "showing every node set"}.`,
      });
    }
    ui.show = keep.length === 0 || keep.length === ids.length ? null : keep;
  }
  if (ui.basis && !ids.includes(ui.basis)) {
    if (warn) addNotice({ field: "basis", message: `Link value basis=“${ui.basis}” is not a node set here; nothing is selected.` });
    ui.basis = null;
  }
  const model = state.data.model;
  const circuits = (model.circuits || []).map((c) => c.id);
  if (!ui.circuit || !circuits.includes(ui.circuit)) {
    if (ui.circuit && warn) {
      addNotice({ field: "circuit", message: `Link value circuit=“${ui.circuit.slice(0, 40)}” is not a circuit of this model; showing the default circuit.` });
    }
    ui.circuit = (fresh && state.ui.model === "planted" && clearestCircuit(state.data.table, "attribute")) || defaultCircuit(model);
  }
  const inputs = ["dataset", ...(model.examples || []).map((e) => e.id)];
  if (!inputs.includes(ui.input)) {
    if (warn) addNotice({ field: "input", message: `Link value input=“${ui.input.slice(0, 40)}” is not an example input; using the whole dataset.` });
    ui.input = UI_DEFAULTS.input;
  }
}

// ---- loading and rendering --------------------------------------------------------------------

/** The node search box and the highlighted node's detail pane (nodedetail.js). */
function renderNodeTools() {
  nodedetail.renderSearch($("node-search"), $("node-options"));
  nodedetail.renderDetail($("node-detail"), panels.isCounted);
}

function renderHeadline() {
  controls.sync();
  // Many columns (the trained model's view): the table takes the full width, the bars go below.
  $("counts").classList.toggle("wide-table", shownBases().length > 6);
  table.render($("table-wrap"));
  chart.render($("chart"));
  $("table-caption").textContent = explain.tableCaption(state.ui.view, state.config.coverage);
  stepsview.render({ sentence: $("count-sentence"), nav: $("steps"), text: $("step-text") });
  explain.renderGlossary($("glossary"));
  sae.render();
  trained.render();
}

/** The trained model is asked for but cannot be shown: say why where the table and graphs go. */
function renderMissingTrained(message) {
  controls.sync();
  for (const id of ["table-wrap", "panels"]) {
    const p = document.createElement("p");
    p.className = "placeholder missing-trained";
    p.textContent = message;
    $(id).replaceChildren(p);
  }
  $("chart").querySelector("svg.bars")?.remove();
  $("table-caption").textContent = "";
  trained.render();
}

async function refresh({ reveal = null } = {}) {
  const gen = ++generation;
  clearTimeout(refreshTimer);
  refreshTimer = null;
  setReady(false);
  setBusy(true);
  const config = { ...state.config };
  try {
    const fetchTable = state.ui.model === "trained" ? trained.fetchTable : sae.fetchTable;
    const [tbl, model] = await Promise.all([fetchTable(config), api.fetchModel(config)]);
    if (gen !== generation) return;
    state.data.model = model;
    if (tbl === null) {
      // Not built yet (or not available): keep the URL as asked, explain, and offer the build.
      state.data.table = null;
      state.data.graphs = new Map();
      renderMissingTrained(trained.missingMessage() || "The trained model cannot be shown.");
      dropTransientNotices();
      setBusy(false);
      if (refreshTimer === null) setReady(true);
      return;
    }
    state.data.table = tbl;
    resolveUi();
    if (replaceTimer === null) writeUrl("replace"); // the canonical form of what is shown
    renderHeadline();
    const graphs = await api.fetchPanels(config, shownBases(), state.ui.circuit, state.ui.input, state.ui.top || api.TOP);
    if (gen !== generation) return;
    state.data.graphs = graphs;
    panels.render($("panels"));
    renderNodeTools();
    retries = 0;
    dropTransientNotices();
    setBusy(false);
    if (reveal) panels.reveal(reveal);
    if (landing) {
      panels.land(landing.node);
      landing = null;
    }
    if (refreshTimer === null) setReady(true);
  } catch (err) {
    if (gen !== generation) return;
    onError(err);
  }
}

function onError(err) {
  const isApi = err instanceof api.ApiError;
  if (isApi && err.status === 422 && retries < 3) {
    retries += 1;
    const field = err.field;
    if (field && FIELDS[field]) {
      const d = presetDefaults(state.config.preset)[field];
      addNotice({ field, message: `The API rejected ${field} = ${state.config[field]} (${err.message}); using the default ${d}.` });
      state.config[field] = d;
    } else if (field === "circuit" || field === "input" || field === "basis") {
      addNotice({ field, message: `The API rejected ${field} (${err.message}); using the default.` });
      state.ui[field] = UI_DEFAULTS[field];
    } else {
      addNotice({ field: field || "config", message: `The API rejected this configuration (${err.message}); using the preset's defaults.` });
      state.config = presetDefaults(state.config.preset);
    }
    writeUrl("replace");
    controls.sync();
    refresh();
    return;
  }
  if (isApi && err.status === 503 && retries < 5) {
    retries += 1;
    addNotice({ level: "info", transient: true, message: "The server is still computing this configuration; retrying…" });
    setTimeout(() => refresh(), 2500);
    return;
  }
  addNotice({ level: "error", field: (isApi && err.field) || null, message: `Could not load the data: ${err.message}` });
  setBusy(false);
  setReady(true);
}

function scheduleRefresh() {
  setReady(false);
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refresh();
  }, DEBOUNCE_MS);
}

// ---- change requests from the views -----------------------------------------------------------

function changedKeys(now, before) {
  return Object.keys(now).filter((k) => JSON.stringify(now[k]) !== JSON.stringify(before[k]));
}

function onChange({ config, ui, how, source }) {
  // A pending slider value belongs to the entry we are leaving: write it before pushing.
  if (how === "push") flushReplace();
  const before = { config: { ...state.config }, ui: { ...state.ui } };
  if (config.preset !== undefined && config.preset !== state.config.preset) {
    state.config = presetDefaults(config.preset);
    state.ui = { ...state.ui, basis: null, circuit: null, input: UI_DEFAULTS.input, node: null };
  }
  for (const [k, v] of Object.entries(config)) if (k !== "preset") state.config[k] = v;
  Object.assign(state.ui, ui);
  // "+N more" was expanded for one circuit and input; another one starts folded again.
  if (!("top" in ui) && (state.ui.circuit !== before.ui.circuit || state.ui.input !== before.ui.input)) state.ui.top = null;
  const cfg = changedKeys(state.config, before.config);
  const uis = changedKeys(state.ui, before.ui);
  if (!cfg.length && !uis.length) return;

  if (how === "push") writeUrl("push");
  else if (how !== "none") scheduleReplace();

  if (!cfg.length && uis.every((k) => k === "node" || k === "step")) {
    if (uis.includes("step")) renderHeadline();
    panels.highlight();
    nodedetail.renderDetail($("node-detail"), panels.isCounted);
    return;
  }
  if (how === "live" || how === "replace") {
    if (cfg.length === 1 && cfg[0] === "coverage") {
      panels.prune(); // live: no fetch, from each panel's coverage curve
      nodedetail.renderDetail($("node-detail"), panels.isCounted);
      $("table-caption").textContent = explain.tableCaption(state.ui.view, state.config.coverage);
    }
    scheduleRefresh();
    return;
  }
  refresh({ reveal: source === "table" || source === "chart" ? state.ui.basis : null });
}

function onPopState() {
  clearTimeout(replaceTimer);
  replaceTimer = null;
  loadFromLocation();
  controls.sync();
  refresh();
}

// ---- resize -----------------------------------------------------------------------------------

function observeResize() {
  if (!("ResizeObserver" in window)) return;
  let lastW = { chart: 0, panels: 0 };
  let frame = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const cw = $("chart").clientWidth;
      const pw = $("panels").clientWidth;
      if (state.data.table && Math.abs(cw - lastW.chart) > 2) chart.render($("chart"));
      if (state.data.graphs.size && Math.abs(pw - lastW.panels) > 2 && document.body.dataset.ready === "true") {
        panels.render($("panels"));
      }
      lastW = { chart: cw, panels: pw };
    });
  });
  ro.observe($("chart"));
  ro.observe($("panels"));
}

function boot() {
  explain.renderIntro($("intro-text"));
  controls.init();
  loadFromLocation();
  controls.sync();
  subscribe(onChange);
  sweep.init($("sweep"));
  sae.init($("sae"), { refresh });
  trained.init($("trained"), $("model-toggle"), { refresh });
  window.addEventListener("popstate", onPopState);
  observeResize();
  refresh();
}

boot();
