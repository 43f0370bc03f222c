// The alpha sweep view: family medians of the union dictionary's edge counts as its animal
// weight alpha runs from 0 to 1 (GET /api/v1/sweep). A sweep costs one table per grid point,
// so it is computed on request, not on every change; it follows the local/global toggle, and
// a marker shows the alpha currently chosen.

import d3 from "./d3.js";
import { plural } from "./format.js";
import { fetchSweep } from "./api.js";
import { familyColor } from "./colors.js";
import { onDemand } from "./ondemand.js";
import { state } from "./state.js";

const HEIGHT = 260;
const M = { top: 18, right: 16, bottom: 40, left: 58 }; // left: room for a "10,000" tick
const figure = onDemand({
  varies: "alpha",
  fetch: fetchSweep,
  draw: (fig, data) => { draw(fig, data); return ""; },
  loading: "Computing one table per value of α…",
  failed: "The sweep could not be computed",
});

/** Wire the card (its button, status line and figure) to the state. */
export const init = figure.init;
/** Redraw from the state (nothing is fetched until the button is pressed). */
export const render = figure.render;

function draw(fig, data) {
  const view = state.ui.view;
  const key = view === "local" ? "local_edges_median" : "global_edges_median";
  const width = Math.max(280, Math.round(fig.clientWidth || 480));
  const pts = data.points.filter((p) => p[key] !== null);
  const max = d3.max(pts, (p) => p[key]) || 1;
  const x = d3.scaleLinear().domain([0, 1]).range([M.left, width - M.right]);
  const y = d3.scaleLog().domain([0.8, Math.max(10, max * 1.5)]).range([HEIGHT - M.bottom, M.top]).clamp(true);
  let svg = d3.select(fig).select("svg");
  if (svg.empty()) svg = d3.select(fig).append("svg").attr("class", "sweep").attr("role", "img");
  svg.attr("viewBox", `0 0 ${width} ${HEIGHT}`).attr("width", width).attr("height", HEIGHT)
    .attr("aria-label", `${view} edges of the union dictionary against alpha, one line per circuit family`);
  svg.selectAll("*").remove();
  legend(fig, data.families);
  const decades = [];
  for (let p = 1; p <= y.domain()[1]; p *= 10) decades.push(p);
  svg.append("g").attr("class", "axis y").attr("transform", `translate(${M.left},0)`)
    .call(d3.axisLeft(y).tickValues(decades).tickFormat(d3.format(",")).tickSizeOuter(0));
  svg.append("g").attr("class", "axis x").attr("transform", `translate(0,${HEIGHT - M.bottom})`)
    .call(d3.axisBottom(x).ticks(5));
  svg.append("text").attr("class", "axis-title").attr("x", width - M.right).attr("y", HEIGHT - 6)
    .attr("text-anchor", "end").text("α: animal weight in the union (0 = attributes only, 1 = animals only)");
  svg.append("text").attr("class", "axis-title").attr("x", 4).attr("y", 11).text(`${view} edges (log scale)`);
  const marker = x(state.config.alpha);
  svg.append("line").attr("class", "alpha-marker").attr("x1", marker).attr("x2", marker)
    .attr("y1", M.top).attr("y2", HEIGHT - M.bottom);
  const line = d3.line().x((p) => x(p.alpha)).y((p) => y(Math.max(p[key], 0.8)));
  for (const fam of data.families) {
    const series = pts.filter((p) => p.family === fam);
    const g = svg.append("g").attr("class", "series").attr("data-family", fam);
    g.append("path").attr("d", line(series)).attr("fill", "none").attr("stroke-width", 2.5)
      .each(function () { this.style.setProperty("stroke", familyColor(fam)); });
    g.selectAll("circle").data(series).join("circle")
      .attr("cx", (p) => x(p.alpha)).attr("cy", (p) => y(Math.max(p[key], 0.8))).attr("r", 3.5)
      .attr("data-alpha", (p) => p.alpha).attr("data-value", (p) => p[key])
      .each(function () { this.style.setProperty("fill", familyColor(fam)); })
      .append("title").text((p) => `${fam} circuits, α = ${p.alpha}: ${plural(p[key], `${view} edge`)}`);
  }
}

function legend(fig, families) {
  const box = d3.select(fig).selectAll("p.sweep-legend").data([0]).join("p").attr("class", "sweep-legend");
  const item = box.selectAll("span.item").data(families).join("span").attr("class", "item");
  item.selectAll("i").data((f) => [f]).join("i").each(function (f) {
    this.style.setProperty("background", familyColor(f));
  });
  item.selectAll("span").data((f) => [f]).join("span").text((f) => `${f} circuits`);
  box.selectAll("span.marker-note").data([0]).join("span").attr("class", "marker-note")
    .text(`dashed line: the current α = ${state.config.alpha}`);
}
