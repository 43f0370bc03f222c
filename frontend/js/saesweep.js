// The SAE sweep: edges per circuit family against SAE width (log-log), one line per kind and
// sparsity, for every SAE the server has trained for this configuration (GET
// /api/v1/sae/sweep), with the planted animal dictionary and attribute basis as dashed
// references and a verdict naming the SAE whose worse family needs the fewest edges.

import d3 from "./d3.js";
import { plural } from "./format.js";
import { tryCall } from "./api.js";
import { familyColor, nodeSetColor } from "./colors.js";
import { SAE_DEFAULTS, configParams, saeSpec, state } from "./state.js";
import { describe, els, fixed, offline, pct, setSweep, sweepState } from "./saestate.js";

const SERIES = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#B8A900", "#8c8c8c", "#56B4E9"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sweepQuery = () => configParams(state.config, { omit: ["alpha"] }).toString();

/** Ask the server for the sweep of this configuration (retrying while it is busy). */
export async function loadSweep() {
  const key = sweepQuery();
  setSweep({ key: null, data: null, pending: key, error: null });
  renderSweep();
  const res = await tryCall(`sae/sweep?${key}`);
  if (sweepState().pending !== key) return;
  if (res.status === 503) {
    await sleep(2000);
    if (sweepState().pending === key) loadSweep();
    return;
  }
  setSweep(res.ok ? { key, data: res.body, pending: false, error: null }
    : { key: null, data: null, pending: false, error: describe(res.body, res.status) });
  renderSweep();
}

/** The sweep's figure, button, status and verdict as its state says. */
export function renderSweep() {
  const sweep = sweepState();
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

/** Wire the sweep box: its button, and a redraw when the figure's width changes. */
export function initSweep(box) {
  els.sweep = box;
  els.sweepButton = box.querySelector("button.run");
  els.sweepStatus = box.querySelector(".status");
  els.sweepVerdict = box.querySelector(".verdict");
  els.sweepFig = box.querySelector("figure");
  els.sweepButton.addEventListener("click", loadSweep);
  if ("ResizeObserver" in window) {
    // Facets sit side by side on wide screens and stack on narrow ones: redraw on a new width.
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = els.sweepFig.clientWidth;
      if (Math.abs(w - lastWidth) > 2 && sweepState().data) requestAnimationFrame(renderSweep);
      lastWidth = w;
    }).observe(els.sweepFig);
  }
}

/** Redraw the sweep if it was asked for (it is not fetched until its button is pressed). */
export function renderSweepIfAsked() {
  const s = sweepState();
  if (s.data || s.pending || s.error) renderSweep();
}
