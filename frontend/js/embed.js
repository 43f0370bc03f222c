// /embed: the table, the chart and the graph panels of one link, with minimal chrome, for
// iframes in other sites. Reuses the page's views (table.js, chart.js, panels.js) and state.
//
// It must work in <iframe sandbox="allow-scripts"> on another site. Such a frame has an opaque
// origin: no cookies, no localStorage (this file touches neither), no history rewrites (the
// link is never written back), no new windows. So:
// - "Open in basisgraph" is a normal target=_blank link (works when popups are allowed), and a
//   click also posts WordPress's {message: "link", value} and {type: "basisgraph:link", href},
//   so a host that listens can navigate for us;
// - the document's height goes to the parent whenever it changes, as WordPress's
//   {message: "height", value} and as {type: "basisgraph:height", height}.
//
// Link keys: /embed takes the page's state, plus `view` = table | graphs | both (the layout)
// and `count` = local | global (the page calls that one `view`). `figure` = table | bars |
// panels | geometry | samples asks for one compact figure instead, sized for a blog column: its height
// is fixed per width band, the one /oembed reports (basisgraph.share.embed.figure_height).

import * as api from "./api.js";
import * as chart from "./chart.js";
import * as controller from "./controller.js";
import * as explain from "./explain.js";
import * as geometry from "./geometry.js";
import * as notices from "./notices.js";
import * as panels from "./panels.js";
import * as samplesweep from "./samplesweep.js";
import * as table from "./table.js";
import { configParams, parseQuery, saeParams, set, state, subscribe, toQuery } from "./state.js";

const LAYOUTS = ["table", "graphs", "both"];
export const FIGURES = ["table", "bars", "panels", "geometry", "samples"];
// The mini panels of figure=panels: one circuit read by the animal, attribute and mixed sets.
const FIGURE_SETS = ["animal", "attribute", "mixed"];
const COMPACT_PANEL = { wide: 300, narrow: 210, breakpoint: 520 }; // svg px; stacked below breakpoint
const $ = (id) => document.getElementById(id);
// WordPress passes a per-embed secret in the fragment (#?secret=abc123) and checks it on messages.
const SECRET = (/[#&?]secret=([A-Za-z0-9]{1,64})/.exec(location.hash) || [])[1] || null;

let layout = "both";
let figure = null; // one of FIGURES, or null for a layout
let fresh = false; // no `v` in the link: the story's defaults (state.js)
let generation = 0;
let retries = 0;
let samplesSweep = null; // figure=samples: the sweep drawn (redrawn on resize)

function readLink() {
  const p = new URLSearchParams(location.search);
  const view = p.get("view");
  if (LAYOUTS.includes(view)) {
    layout = view;
    p.delete("view");
  }
  if (FIGURES.includes(p.get("figure"))) {
    figure = p.get("figure");
    layout = figure === "panels" ? "graphs" : "table";
  }
  p.delete("figure");
  const count = p.get("count");
  p.delete("count");
  if (count === "local" || count === "global") p.set("view", count);
  const parsed = parseQuery(p.toString());
  fresh = parsed.fresh;
  const ui = figure === "panels" && !parsed.ui.show ? { ...parsed.ui, show: [...FIGURE_SETS] } : parsed.ui;
  set({ config: parsed.config, ui, notices: parsed.notices }, { replace: true });
  document.body.dataset.layout = layout;
  if (figure) document.body.dataset.figure = figure;
}

function post(...messages) {
  if (window.parent === window) return;
  for (const m of messages) window.parent.postMessage(m, "*");
}

let lastHeight = -1;
function postHeight() {
  const h = Math.ceil(document.documentElement.getBoundingClientRect().height);
  if (h === lastHeight || h <= 0) return;
  lastHeight = h;
  const wp = { message: "height", value: h };
  if (SECRET) wp.secret = SECRET;
  post(wp, { type: "basisgraph:height", height: h });
}

function appUrl() {
  return new URL(`/?${toQuery(state)}`, location.href).href;
}

function updateChrome() {
  const link = $("open-app");
  link.href = appUrl();
  const c = state.config;
  $("embed-what").textContent =
    `· ${c.animals.toLocaleString("en")} animals, ${c.attributes} attributes · ${state.ui.view} edge counts`;
}

function renderNotices() {
  notices.render($("notices"), (i) => {
    controller.dropNotice(i);
    renderNotices();
  });
}

/** The svg height of a mini panel at this frame's width (COMPACT_PANEL; embed.py mirrors it). */
function compactPanelHeight() {
  const w = document.documentElement.clientWidth;
  return w >= COMPACT_PANEL.breakpoint ? COMPACT_PANEL.wide : COMPACT_PANEL.narrow;
}

/** A figure's one-line title: what is drawn and under which count. */
function renderFigureLine() {
  const line = $("figure-line");
  if (!figure) {
    line.hidden = true;
    return;
  }
  const c = ((state.data.model && state.data.model.circuits) || []).find((x) => x.id === state.ui.circuit);
  const count = state.ui.view === "global" ? "global count (mean over the dataset)" : "local count (one input, median)";
  line.textContent = figure === "panels" || figure === "geometry"
    ? `${c ? `${c.family} circuit “${c.label}”` : "circuit"} · ${count}`
    : figure === "samples"
      ? "Global edges per circuit family and node set, against the number of inputs"
      : `Edges per circuit family and node set · ${count}`;
}

function setReady(on) {
  document.body.dataset.ready = on ? "true" : "false";
  for (const id of ["counts", "graphs"]) $(id).setAttribute("aria-busy", on ? "false" : "true");
}

/**
 * The link's table: the trained MLP's for model=trained (its panels follow state.ui.model in
 * api.js; one not built yet shows the API's 404, which says how to build it), else the planted
 * one with the link's learned dictionary as a column when the server has it trained.
 */
async function fetchTable(config) {
  if (state.ui.model === "trained") return api.fetchTrainedTable(config);
  const spec = state.ui.sae;
  if (!spec) return api.fetchTable(config);
  // Asked first (always 200), so an SAE this server has not trained costs no 404.
  const p = configParams(config, { omit: ["coverage", "alpha"] });
  for (const [k, v] of saeParams(spec)) p.set(k, v);
  const r = await api.tryCall(`sae/jobs?${p}`);
  const st = r.ok && r.body ? r.body.status : null;
  if (st === "done") return api.fetchSaeTable(config, spec);
  controller.addNotice({ field: "sae", message: `The learned dictionary ${spec} is not trained on this server; showing the planted node sets.` });
  set({ ui: { sae: null } });
  return api.fetchTable(config);
}

async function refresh({ graphsOnly = false } = {}) {
  const gen = ++generation;
  setReady(false);
  const config = { ...state.config };
  try {
    if (!graphsOnly) {
      const { table: tbl, model } = await controller.loadStudy(config, fetchTable);
      if (gen !== generation) return;
      set({ data: { table: tbl, model } });
      // A figure is new with this version: without a circuit it shows the clearest attribute one.
      controller.resolveUi({ story: Boolean(figure) || fresh });
    }
    updateChrome();
    renderFigureLine();
    if (figure === "geometry") geometry.render($("geometry"));
    else if (figure === "samples") {
      const sweep = await api.fetchSamplesSweep(config);
      if (gen !== generation) return;
      samplesSweep = sweep;
      samplesweep.draw($("samples"), sweep);
    } else if (layout !== "graphs") {
      if (figure !== "bars") table.render($("table-wrap"));
      if (figure !== "table") chart.render($("chart"));
      $("table-caption").textContent = explain.tableCaption(state.ui.view, state.config.coverage);
    }
    if (figure === "panels") panels.setFixedHeight(compactPanelHeight());
    if (layout !== "table") {
      const graphs = await controller.loadPanels(config);
      if (gen !== generation) return;
      set({ data: { graphs } });
      panels.render($("panels"));
    }
    retries = 0;
    renderNotices();
    setReady(true);
    postHeight();
  } catch (err) {
    if (gen === generation) onError(err);
  }
}

function onError(err) {
  // The same fallbacks as the page (controller.js).
  const wait = controller.recover(err, retries);
  renderNotices();
  if (wait === null) {
    setReady(true);
    postHeight();
    return;
  }
  retries += 1;
  setTimeout(() => refresh(), wait);
}

// Clicks in the views ask for changes; the embed applies them without touching the URL.
function onChange({ config, ui }) {
  const { cfg, uis: keys } = controller.applyChange({ config, ui });
  updateChrome();
  if (cfg.length) return refresh();
  if (!keys.length) return;
  if (keys.every((k) => k === "node" || k === "step")) {
    if (layout !== "table") panels.highlight();
    return;
  }
  if (layout === "table") {
    table.render($("table-wrap"));
    chart.render($("chart"));
    return;
  }
  refresh({ graphsOnly: keys.every((k) => k !== "view" && k !== "show") });
}

function observe() {
  if (!("ResizeObserver" in window)) {
    window.addEventListener("load", postHeight);
    return;
  }
  new ResizeObserver(postHeight).observe(document.documentElement);
  let lastWidth = document.documentElement.clientWidth;
  new ResizeObserver(() => {
    const w = document.documentElement.clientWidth;
    if (Math.abs(w - lastWidth) < 3 || document.body.dataset.ready !== "true") return;
    lastWidth = w;
    if (figure === "geometry") geometry.render($("geometry"));
    else if (figure === "samples") {
      if (samplesSweep) samplesweep.draw($("samples"), samplesSweep);
    } else if (layout !== "graphs") chart.render($("chart"));
    if (figure === "panels") panels.setFixedHeight(compactPanelHeight());
    if (layout !== "table" && state.data.graphs.size) panels.render($("panels"));
  }).observe(document.body);
}

function boot() {
  readLink();
  $("open-app").addEventListener("click", (ev) => {
    const href = $("open-app").href;
    // In a frame allowed to open popups this opens the app; in an allow-scripts-only sandbox
    // window.open returns null, and the host's script (share.js) opens the link for us.
    ev.preventDefault();
    const w = window.open(href, "_blank");
    if (w) {
      w.opener = null;
      return;
    }
    const wp = { message: "link", value: href };
    if (SECRET) wp.secret = SECRET;
    post(wp, { type: "basisgraph:link", href });
  });
  updateChrome();
  subscribe(onChange);
  observe();
  renderNotices();
  refresh();
}

boot();
