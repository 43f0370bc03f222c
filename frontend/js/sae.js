// Learned dictionaries: train an SAE on the server and show it beside the planted node sets.
//
// - The form picks kind, width, sparsity (L1 λ or k), steps and seed. Train POSTs
//   /api/v1/sae/jobs; the server trains in a background process and the page polls
//   /api/v1/sae/jobs/{id} into a <progress> bar. A cached SAE answers "done" at once.
// - Once trained, the SAE is state.ui.sae (link key `sae`, e.g. sae=relu:1050): the table then
//   comes from /api/v1/sae/table, so the SAE is one more column (data-basis="sae:relu:1050"),
//   one more bar and one more panel, and its metrics are listed here; below them, learned.js
//   reads each circuit over the SAE's atoms beside the oracle.
// - The sweep plots width × sparsity against the edge counts per family for every SAE of this
//   configuration the server has trained (GET /api/v1/sae/sweep), with the planted animal
//   dictionary and attribute basis as dashed references.

import d3 from "./d3.js";
import { plural } from "./format.js";
import { ApiError, describeError, fetchSaeTable, fetchTable as fetchPlainTable, tryCall } from "./api.js";
import { familyColor, nodeSetColor } from "./colors.js";
import { el } from "./controls.js";
import { inlineData } from "./datasource.js";
import { poll } from "./jobs.js";
import * as learned from "./learned.js";
import {
  SAE_DEFAULTS,
  SAE_KINDS,
  configParams,
  parseSae,
  saeParams,
  saeSpec,
  state,
  subscribe,
  update,
  usesL1,
} from "./state.js";

const POLL_MS = 400;
const MAX_STEPS = 20000;
const MAX_WIDTH = 8192;
const SERIES = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#B8A900", "#8c8c8c", "#56B4E9"];
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

let root = null;
let refreshPage = () => {};
const els = {};
let job = null; // the last job started from this page: the API's job JSON plus its spec
let jobRun = 0;
let missing = null; // { spec, message }: the link's SAE could not be shown
let sweep = { key: null, data: null, pending: false, error: null };

const offline = () => Boolean(inlineData()); // a one-file export: no server to train on
const fixed = (v, n) => (v == null ? "–" : Number(v).toFixed(n));
const pct = (v) => (v == null ? "–" : `${(100 * v).toFixed(1)}%`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the table with the SAE (main.js calls this instead of api.fetchTable) -------------------

/**
 * The table for `config`, with state.ui.sae appended when the server has it trained. The SAE
 * is looked up first (GET /api/v1/sae/jobs, always 200), so an untrained one costs no 404; a
 * job still running for it resumes its progress bar here.
 */
export async function fetchTable(config) {
  const spec = state.ui.sae;
  if (!spec || offline()) {
    // A one-file export carries the link's SAE inside its table when it was trained.
    const t = await fetchPlainTable(config);
    const carried = (t.bases || []).some((b) => b.sae);
    missing = spec && !carried ? { spec, message: `This file carries no learned dictionaries; open basisgraph to see ${specLabel(parseSae(spec))}.` } : null;
    return t;
  }
  const res = await tryCall(`sae/jobs?${jobParams(spec, config)}`);
  const st = res.ok ? res.body.status : null;
  if (st === "done") {
    try {
      const t = await fetchSaeTable(config, spec);
      missing = null;
      return t;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
  }
  const name = specLabel(parseSae(spec));
  if (["queued", "running", "measuring"].includes(st) && !(job && job.id === res.body.id)) follow(spec, res.body);
  missing = {
    spec,
    message: !res.ok
      ? `The link's learned dictionary ${name} cannot be shown here (${describe(res.body, res.status)}).`
      : st === "untrained" || st === "failed" || st === "done"
      ? `The link names the learned dictionary ${name}, which this server has not trained for this configuration yet. Press Train to train it.`
      : `${name} is training; it joins the table when it is done.`,
  };
  return fetchPlainTable(config);
}

function specLabel(s) {
  if (!s) return "";
  const sp = usesL1(s.kind) ? `λ = ${s.sparsity}` : `k = ${s.sparsity}`;
  return `sae:${s.kind}:${s.width} (${sp}, ${plural(s.steps, "step")}, seed ${s.seed})`;
}

function saeBasis() {
  const t = state.data.table;
  return t && state.ui.sae ? (t.bases || []).find((b) => b.sae) || null : null;
}

// ---- form --------------------------------------------------------------------------------

function widthLimit() {
  return Math.min(MAX_WIDTH, 4 * (state.config.animals + state.config.attributes));
}

function numberInput(name, attrs) {
  return el("input", { id: `sae-${name}`, name, type: "number", required: true, ...attrs });
}

function field(name, label, input, hint) {
  return el("div", { className: "field" }, el("label", { for: `sae-${name}`, text: label }), input,
    el("span", { className: "hint", id: `sae-${name}-hint`, text: hint }));
}

function buildForm(form) {
  els.kind = el("select", { id: "sae-kind", name: "kind" });
  for (const k of SAE_KINDS) els.kind.append(el("option", { value: k, text: k }));
  els.width = numberInput("width", { min: 1, step: 1, inputmode: "numeric" });
  els.sparsity = numberInput("sparsity", { min: 0, step: "any", inputmode: "decimal" });
  els.steps = numberInput("steps", { min: 1, max: MAX_STEPS, step: 1, inputmode: "numeric" });
  els.seed = numberInput("seed", { min: 0, step: 1, inputmode: "numeric" });
  els.train = el("button", { type: "submit", className: "run", text: "Train" });
  els.remove = el("button", { type: "button", className: "remove", text: "Remove column" });
  els.sparsityLabel = el("label", { for: "sae-sparsity", text: "L1 λ" });
  els.sparsityHint = el("span", { className: "hint", id: "sae-sparsity-hint" });
  form.append(
    field("kind", "Kind", els.kind, "relu, topk, batchtopk, matryoshka"),
    field("width", "Width", els.width, ""),
    el("div", { className: "field" }, els.sparsityLabel, els.sparsity, els.sparsityHint),
    field("steps", "Steps", els.steps, `optimiser steps, at most ${MAX_STEPS}`),
    field("seed", "SAE seed", els.seed, "initialisation and batch order"),
    el("div", { className: "field actions" }, els.train, els.remove),
  );
  els.kind.addEventListener("change", () => {
    const wasL1 = els.sparsity.dataset.kind === "l1";
    syncSparsity(usesL1(els.kind.value) === wasL1 ? els.sparsity.value : null);
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    train();
  });
  els.remove.addEventListener("click", () => update({ ui: { sae: null, basis: null } }, "push", "sae"));
}

function syncSparsity(value) {
  const l1 = usesL1(els.kind.value);
  els.sparsity.dataset.kind = l1 ? "l1" : "k";
  els.sparsityLabel.textContent = l1 ? "L1 λ" : "k";
  els.sparsityHint.textContent = l1 ? "L1 penalty, 0 to 1000" : "latents kept per input";
  els.sparsity.step = l1 ? "any" : "1";
  els.sparsity.max = l1 ? "1000" : "4096";
  els.sparsity.min = l1 ? "0" : "1";
  els.sparsity.value = value ?? String(l1 ? SAE_DEFAULTS.l1 : SAE_DEFAULTS.k);
}

let formFor = null; // the spec or config the form was last filled from

function syncForm() {
  const n = state.config.animals + state.config.attributes;
  els.width.max = String(widthLimit());
  els.width.placeholder = String(n);
  document.getElementById("sae-width-hint").textContent = `latents; animals + attributes = ${n}, at most ${widthLimit()}`;
  const from = state.ui.sae || `config:${n}`;
  if (from === formFor) return;
  formFor = from;
  const s = parseSae(state.ui.sae) || { kind: els.kind.value || "relu", width: n, sparsity: null, steps: SAE_DEFAULTS.steps, seed: SAE_DEFAULTS.seed };
  els.kind.value = s.kind;
  els.width.value = String(s.width);
  els.steps.value = String(s.steps);
  els.seed.value = String(s.seed);
  syncSparsity(s.sparsity == null ? null : String(s.sparsity));
}

/** The form's SAE, or null after marking the first bad field. */
function readForm() {
  const kind = els.kind.value;
  const l1 = usesL1(kind);
  const checks = [
    ["width", els.width, 1, widthLimit(), true],
    ["sparsity", els.sparsity, l1 ? 0 : 1, l1 ? 1000 : Math.min(4096, Number(els.width.value) || 4096), !l1],
    ["steps", els.steps, 1, MAX_STEPS, true],
    ["seed", els.seed, 0, 4294967295, true],
  ];
  const out = { kind };
  for (const [name, input, lo, hi, int] of checks) {
    const raw = input.value.trim();
    const v = Number(raw);
    const ok = raw !== "" && Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v));
    input.toggleAttribute("aria-invalid", !ok);
    if (!ok) {
      setStatus(`${name === "sparsity" ? (l1 ? "L1 λ" : "k") : name}: expected ${int ? "a whole number" : "a number"} from ${lo} to ${hi}.`, "error");
      input.focus();
      return null;
    }
    out[name] = v;
  }
  return out;
}

// ---- training ----------------------------------------------------------------------------

function jobParams(spec, config = state.config) {
  const p = configParams(config, { omit: ["coverage", "alpha"] });
  for (const [k, v] of saeParams(spec)) p.set(k, v);
  return p;
}

function describe(body, status) {
  return describeError(status, body).message;
}

async function train() {
  const s = readForm();
  if (!s) return;
  const spec = saeSpec(s);
  const run = ++jobRun;
  job = { spec, status: "starting", progress: 0 };
  render();
  const res = await tryCall(`sae/jobs?${jobParams(spec)}`, "POST");
  if (run !== jobRun) return;
  if (!res.ok) {
    job = { spec, status: "failed", progress: 0, error: describe(res.body, res.status) };
    render();
    return;
  }
  follow(spec, res.body);
}

/** Poll a job into the progress bar until it ends; then show the SAE as a column. */
async function follow(spec, body) {
  const run = ++jobRun;
  job = { ...body, spec };
  render();
  const last = await poll(job, {
    path: (j) => `sae/jobs/${encodeURIComponent(j.id)}`,
    wanted: () => run === jobRun,
    onUpdate: (j) => {
      job = j;
      render();
    },
    extra: { spec },
    every: POLL_MS,
  });
  if (last && last.status === "done") {
    sweep.key = null; // a new SAE: the sweep is out of date
    if (state.ui.sae === spec) refreshPage();
    else update({ ui: { sae: spec, basis: job.basis } }, "push", "sae");
  }
}

function setStatus(text, level = "") {
  els.status.textContent = text;
  els.status.className = `status ${level}`.trim();
}

function renderJob() {
  const j = job;
  const running = j && !["done", "failed"].includes(j.status);
  els.progress.hidden = !j;
  els.progressWrap.dataset.status = j ? j.status : "idle";
  if (j) {
    els.progress.value = j.progress || 0;
    els.progress.textContent = `${Math.round(100 * (j.progress || 0))}%`;
  }
  els.train.disabled = Boolean(running) || offline();
  els.remove.hidden = !state.ui.sae;
  const name = j ? specLabel(parseSae(j.spec)) : "";
  if (!j) setStatus(missing ? missing.message : "", missing ? "warn" : "");
  else if (j.status === "starting") setStatus(`Starting ${name}…`);
  else if (j.status === "queued" && !j.queue_position) setStatus(`Starting the training process for ${name}…`);
  else if (j.status === "queued") setStatus(`${name}: waiting for ${j.queue_position} other training job${j.queue_position === 1 ? "" : "s"}…`);
  else if (j.status === "running") setStatus(`Training ${name}: step ${j.step} of ${j.steps}${j.loss != null ? `, loss ${Number(j.loss).toPrecision(3)}` : ""}.`);
  else if (j.status === "measuring") setStatus(`Measuring ${name} on held-out inputs…`);
  else if (j.status === "failed") setStatus(`Training ${name} failed: ${j.error || "unknown error"}`, "error");
  else if (j.status === "done") {
    const shown = saeBasis();
    setStatus(shown && state.ui.sae === j.spec
      ? `${name} is trained${j.metrics && j.metrics.train_s != null ? ` (${j.metrics.train_s} s)` : ""}; it is the column ${shown.id} in the table and a panel below.`
      : `${name} is trained; loading its column…`);
  }
}

// ---- metrics -----------------------------------------------------------------------------

function renderMetrics() {
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

// ---- sweep -------------------------------------------------------------------------------

const sweepQuery = () => configParams(state.config, { omit: ["alpha"] }).toString();

async function loadSweep() {
  const key = sweepQuery();
  sweep = { key: null, data: null, pending: key, error: null };
  renderSweep();
  const res = await tryCall(`sae/sweep?${key}`);
  if (sweep.pending !== key) return;
  if (res.status === 503) {
    await sleep(2000);
    if (sweep.pending === key) loadSweep();
    return;
  }
  sweep = res.ok ? { key, data: res.body, pending: false, error: null }
    : { key: null, data: null, pending: false, error: describe(res.body, res.status) };
  renderSweep();
}

function renderSweep() {
  const box = els.sweep;
  const fresh = sweep.data && sweep.key === sweepQuery();
  box.dataset.state = fresh ? "drawn" : sweep.pending ? "loading" : "idle";
  els.sweepButton.textContent = fresh ? "Update the sweep" : "Show the sweep";
  els.sweepButton.disabled = Boolean(sweep.pending) || offline();
  const fig = els.sweepFig;
  if (!fresh) {
    d3.select(fig).selectAll("*").remove();
    els.sweepStatus.textContent = sweep.error ? `The sweep could not be computed: ${sweep.error}`
      : sweep.pending ? "Counting the edges of every trained SAE of this configuration…" : "";
    els.sweepVerdict.textContent = "";
    return;
  }
  els.sweepStatus.textContent = sweep.data.points.length ? ""
    : "No SAE has been trained for this configuration yet: train one above (or run basisgraph sae-sweep).";
  drawSweep(fig, sweep.data);
}

function seriesName(p) {
  let name = `${p.kind} ${p.sparsity_name === "l1" ? "λ" : "k"} = ${p.sparsity}`;
  if (p.steps !== SAE_DEFAULTS.steps) name += `, ${plural(p.steps, "step")}`;
  if (p.sae_seed !== SAE_DEFAULTS.seed) name += `, seed ${p.sae_seed}`;
  return name;
}

function plantedCell(basis, family, key) {
  const t = state.data.table;
  const c = t && t.cells.find((x) => x.basis === basis && x.family === family);
  return c ? c[key] : null;
}

function drawSweep(fig, data) {
  const view = state.ui.view;
  const key = `${view}_edges_median`;
  const sel = d3.select(fig);
  sel.selectAll("*").remove();
  const pts = data.points;
  if (!pts.length) return;
  const names = [...new Set(pts.map(seriesName))];
  const color = (n) => SERIES[names.indexOf(n) % SERIES.length];
  const families = data.families;
  const total = Math.max(300, Math.round(fig.clientWidth || 600));
  const cols = total >= 760 ? families.length : 1;
  const gap = 18;
  const fw = Math.floor((total - gap * (cols - 1)) / cols);
  const fh = 230;
  const rows = Math.ceil(families.length / cols);
  const M = { top: 22, right: 12, bottom: 38, left: 58 }; // left: room for a "10,000" tick
  const widths = pts.map((p) => p.width);
  let [wlo, whi] = d3.extent(widths);
  if (wlo === whi) [wlo, whi] = [wlo / 2, whi * 2];
  const x = d3.scaleLog().base(2).domain([wlo / 1.15, whi * 1.15]).range([M.left, fw - M.right]);
  // Planted references; their labels sit at opposite ends so equal values do not overprint.
  const refs = [["animal", "animal dictionary", "end"], ["attribute", "attribute basis", "start"]];
  const vals = pts.flatMap((p) => p.cells.map((c) => c[key])).concat(
    refs.flatMap(([b]) => families.map((f) => plantedCell(b, f, key)))).filter((v) => v != null);
  const max = d3.max(vals) || 1;
  const y = d3.scaleLog().domain([0.8, Math.max(10, max * 1.5)]).range([fh - M.bottom, M.top]).clamp(true);
  const svg = sel.append("svg").attr("class", "sae-sweep-plot").attr("role", "img")
    .attr("viewBox", `0 0 ${total} ${rows * fh}`).attr("width", total).attr("height", rows * fh)
    .attr("aria-label", `${view} edges per circuit family against SAE width, one line per kind and sparsity`);
  const decades = [];
  for (let p = 1; p <= y.domain()[1]; p *= 10) decades.push(p);
  const wticks = [...new Set(widths)].sort((a, b) => a - b);
  families.forEach((fam, i) => {
    const g = svg.append("g").attr("class", "facet").attr("data-family", fam)
      .attr("transform", `translate(${(i % cols) * (fw + gap)},${Math.floor(i / cols) * fh})`);
    g.append("text").attr("class", "facet-title").attr("x", M.left).attr("y", 13).text(`${fam} circuits`)
      .each(function () { this.style.setProperty("fill", familyColor(fam)); });
    g.append("g").attr("class", "axis y").attr("transform", `translate(${M.left},0)`)
      .call(d3.axisLeft(y).tickValues(decades).tickFormat(d3.format(",")).tickSizeOuter(0));
    g.append("g").attr("class", "axis x").attr("transform", `translate(0,${fh - M.bottom})`)
      .call(d3.axisBottom(x).tickValues(wticks.length <= 6 ? wticks : x.ticks(5)).tickFormat(d3.format(",")).tickSizeOuter(0));
    g.append("text").attr("class", "axis-title").attr("x", fw - M.right).attr("y", fh - 6)
      .attr("text-anchor", "end").text("width (latents, log scale)");
    for (const [b, label, anchor] of refs) {
      const v = plantedCell(b, fam, key);
      if (v == null) continue;
      const yy = y(Math.max(v, 0.8));
      const r = g.append("g").attr("class", "reference").attr("data-basis", b);
      r.append("line").attr("x1", M.left).attr("x2", fw - M.right).attr("y1", yy).attr("y2", yy)
        .each(function () { this.style.setProperty("stroke", nodeSetColor(b)); });
      r.append("text").attr("x", anchor === "end" ? fw - M.right - 2 : M.left + 4).attr("y", yy - 3)
        .attr("text-anchor", anchor)
        .text(`${label} ${v}`);
    }
    const line = d3.line().x((p) => x(p.width)).y((p) => y(Math.max(p.v, 0.8)));
    for (const name of names) {
      const series = pts.filter((p) => seriesName(p) === name)
        .map((p) => ({ ...p, v: (p.cells.find((c) => c.family === fam) || {})[key] }))
        .filter((p) => p.v != null).sort((a, b) => a.width - b.width);
      if (!series.length) continue;
      const s = g.append("g").attr("class", "series").attr("data-series", name);
      s.append("path").attr("d", line(series)).attr("fill", "none").attr("stroke-width", 2)
        .each(function () { this.style.setProperty("stroke", color(name)); });
      s.selectAll("circle").data(series).join("circle")
        .attr("cx", (p) => x(p.width)).attr("cy", (p) => y(Math.max(p.v, 0.8))).attr("r", 4)
        .attr("data-key", (p) => p.key).attr("data-family", fam).attr("data-width", (p) => p.width)
        .attr("data-value", (p) => p.v)
        .classed("current", (p) => state.ui.sae === saeSpec({ kind: p.kind, width: p.width, sparsity: p.sparsity, steps: p.steps, seed: p.sae_seed }))
        .each(function () { this.style.setProperty("fill", color(name)); })
        .append("title").text((p) => `${p.id}, ${name}: ${p.v} ${view} edges for ${fam} circuits (L0 ${fixed(p.metrics.l0, 1)}, EV ${fixed(p.metrics.explained_variance, 3)})`);
    }
  });
  const legend = sel.append("p").attr("class", "sweep-legend");
  for (const name of names) {
    const item = legend.append("span").attr("class", "item");
    item.append("i").each(function () { this.style.setProperty("background", color(name)); });
    item.append("span").text(name);
  }
  legend.append("span").attr("class", "marker-note").text("dashed: the planted animal dictionary and attribute basis (from the table)");
  const best = data.best && data.best[view];
  const floor = data.ev_floor != null ? ` explaining at least ${fixed(data.ev_floor, 2)} of the variance` : "";
  els.sweepVerdict.textContent = best
    ? `Of ${pts.length} trained SAE${pts.length === 1 ? "" : "s"}, among those${floor}, the one whose worse family needs the fewest ${view} edges is ${best.id} (${best.sparsity_name === "l1" ? "λ" : "k"} = ${best.sparsity}): ` +
      `${best.animal} for animal circuits and ${best.attribute} for attribute circuits, explaining ${fixed(best.explained_variance, 3)} of the variance ` +
      `(the never-counted error node carries ${pct(best.error_share_animal)} and ${pct(best.error_share_attribute)} of those circuits' attribution). ` +
      `The attribute basis gives attribute circuits ${plantedCell("attribute", "attribute", key) ?? "–"}, the animal dictionary gives animal circuits ${plantedCell("animal", "animal", key) ?? "–"}.`
    : pts.length && floor ? `None of the ${pts.length} trained SAEs is${floor}, so none is picked.` : "";
}

// ---- wiring ------------------------------------------------------------------------------

export function render() {
  if (!root) return;
  syncForm();
  renderJob();
  renderMetrics();
  learned.render();
  if (sweep.data || sweep.pending || sweep.error) renderSweep();
}

export function init(el_, { refresh } = {}) {
  root = el_;
  if (refresh) refreshPage = refresh;
  buildForm(root.querySelector("form.sae-form"));
  els.progressWrap = root.querySelector(".sae-job");
  els.progress = root.querySelector("progress");
  els.status = root.querySelector(".sae-job .status");
  els.metrics = root.querySelector(".sae-result");
  learned.init(root.querySelector(".sae-learned"));
  els.sweep = root.querySelector(".sae-sweep");
  els.sweepButton = els.sweep.querySelector("button.run");
  els.sweepStatus = els.sweep.querySelector(".status");
  els.sweepVerdict = els.sweep.querySelector(".verdict");
  els.sweepFig = els.sweep.querySelector("figure");
  els.sweepButton.addEventListener("click", loadSweep);
  if (offline()) {
    for (const b of [els.train, els.sweepButton]) {
      b.disabled = true;
      b.title = "Learned dictionaries need the server: open basisgraph to train one";
    }
  }
  subscribe(() => queueMicrotask(render));
  if ("ResizeObserver" in window) {
    // Facets sit side by side on wide screens and stack on narrow ones: redraw on a new width.
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = els.sweepFig.clientWidth;
      if (Math.abs(w - lastWidth) > 2 && sweep.data) requestAnimationFrame(renderSweep);
      lastWidth = w;
    }).observe(els.sweepFig);
  }
  render();
}
