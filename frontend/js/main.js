// Boot and wiring. Reads the link into the state, loads the API answers, renders every view,
// and keeps the URL in step with the state:
//   discrete choices  -> pushState (a new history entry)
//   slider movements  -> replaceState, debounced, and a debounced refetch
//   back / forward    -> popstate re-reads the link and re-renders
// document.body.dataset.ready is "true" once everything has rendered and "false" while a
// re-render is pending.

import * as chart from "./chart.js";
import * as controller from "./controller.js";
import * as controls from "./controls.js";
import { inlineQuery } from "./datasource.js";
import * as explain from "./explain.js";
import * as geometry from "./geometry.js";
import * as nodedetail from "./nodedetail.js";
import * as notices from "./notices.js";
import * as panels from "./panels.js";
import * as sae from "./sae.js";
import * as samplesweep from "./samplesweep.js";
import * as seedscontrol from "./seedscontrol.js";
import * as stepsview from "./stepsview.js";
import * as sweep from "./sweep.js";
import * as table from "./table.js";
import * as trained from "./trained.js";
import {
  parseQuery,
  set,
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
    controller.dropNotice(i);
    renderNotices();
  });
}

function addNotice(n) {
  controller.addNotice(n);
  renderNotices();
}

function dropTransientNotices() {
  if (controller.dropTransientNotices()) renderNotices();
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
  set({ config, ui }, { replace: true });
  fresh = parsed.fresh;
  landing = ui.node || ui.circuit ? { node: ui.node, circuit: ui.circuit } : null;
  for (const n of found) addNotice(n);
  checkLinkValues = true;
}

// ---- resolving UI values against the API's lists ----------------------------------------------

function resolveUi() {
  const warn = checkLinkValues;
  checkLinkValues = false;
  controller.resolveUi({ warn, story: fresh });
  renderNotices();
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
  seedscontrol.sync();
  table.render($("table-wrap"));
  chart.render($("chart"));
  $("table-caption").textContent = explain.tableCaption(state.ui.view, state.config.coverage) + seedscontrol.captionNote(state.data.table);
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
    const { table: tbl, model } = await controller.loadStudy(config, fetchTable);
    if (gen !== generation) return;
    set({ data: { model } });
    if (tbl === null) {
      // Not built yet (or not available): keep the URL as asked, explain, and offer the build.
      set({ data: { table: null, graphs: new Map() } });
      renderMissingTrained(trained.missingMessage() || "The trained model cannot be shown.");
      dropTransientNotices();
      setBusy(false);
      if (refreshTimer === null) setReady(true);
      return;
    }
    set({ data: { table: tbl } });
    resolveUi();
    if (replaceTimer === null) writeUrl("replace"); // the canonical form of what is shown
    renderHeadline();
    const graphs = await controller.loadPanels(config);
    if (gen !== generation) return;
    set({ data: { graphs } });
    panels.render($("panels"));
    renderNodeTools();
    geometry.render($("geometry"));
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
  const wait = controller.recover(err, retries);
  renderNotices();
  if (wait === null) {
    setBusy(false);
    setReady(true);
    return;
  }
  retries += 1;
  if (wait === 0) {
    writeUrl("replace");
    controls.sync();
    refresh();
  } else setTimeout(() => refresh(), wait);
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

function onChange({ config, ui, how, source }) {
  // A pending slider value belongs to the entry we are leaving: write it before pushing.
  if (how === "push") flushReplace();
  const { cfg, uis } = controller.applyChange({ config, ui });
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
      $("table-caption").textContent = explain.tableCaption(state.ui.view, state.config.coverage) + seedscontrol.captionNote(state.data.table);
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
  samplesweep.init($("samples-sweep"));
  seedscontrol.init($("seeds-control"));
  sae.init($("sae"), { refresh });
  trained.init($("trained"), $("model-toggle"), { refresh });
  window.addEventListener("popstate", onPopState);
  observeResize();
  refresh();
}

boot();
