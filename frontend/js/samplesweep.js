// The samples sweep view: every node set's global edge count as the dataset grows, one facet per
// circuit family (GET /api/v1/sweep/samples). Global counts keep the edges whose mean |attribution|
// over the dataset covers τ; more inputs reach more rare animals, so some cells keep growing with
// `samples`. The sweep costs one table per dataset size, so it is computed on request, not on
// every change; a dashed line marks the dataset size the table above uses.

import d3 from "./d3.js";
import { fetchSamplesSweep } from "./api.js";
import { familyColor, nodeSetColor } from "./colors.js";
import { formatCount, plural } from "./format.js";
import { onDemand } from "./ondemand.js";
import { state } from "./state.js";

const FACET_H = 210;
const M = { top: 24, right: 10, bottom: 38, left: 48 };
const STACK_BELOW = 640; // px: narrower figures stack the facets
const LARGEST = 20000; // Config's largest samples: the grid's last point when nothing cuts it
const RETRIES = 2; // a busy server (503) is asked again this many times
const RETRY_MS = 3000;
const figure = onDemand({
  varies: "samples",
  fetch: fetchSamplesSweep,
  draw: (fig, data) => {
    draw(fig, data);
    const grid = data.samples;
    return `Counted at ${grid.map((s) => s.toLocaleString("en")).join(", ")} inputs` +
      (grid[grid.length - 1] < LARGEST ? "; larger datasets are over this server's budget for one request." : ".");
  },
  visible: () => state.ui.model !== "trained", // the sweep is of the planted model
  loading: "Computing one table per dataset size…",
  failed: "The samples sweep could not be computed",
  retries: RETRIES,
  retryMs: RETRY_MS,
});

/** Wire the card (its button, status line and figure) to the state. */
export const init = figure.init;
/** Redraw from the state (nothing is fetched until the button is pressed). */
export const render = figure.render;

export function draw(fig, data) {
  const shown = new Set((state.ui.show || data.bases.map((b) => b.id)));
  const bases = data.bases.filter((b) => shown.has(b.id));
  const pts = data.points.filter((p) => shown.has(p.basis) && p.global_edges_median !== null);
  const total = Math.max(280, Math.round(fig.clientWidth || 600));
  const stacked = total < STACK_BELOW;
  const fw = stacked ? total : Math.floor(total / data.families.length);
  const width = total;
  const height = stacked ? FACET_H * data.families.length : FACET_H;
  const max = d3.max(pts, (p) => p.global_edges_median) || 1;
  const xs = data.samples;
  const x = d3.scaleLog().domain([xs[0], xs[xs.length - 1] === xs[0] ? xs[0] * 2 : xs[xs.length - 1]]).range([M.left, fw - M.right]);
  const y = d3.scaleLog().domain([0.8, Math.max(10, max * 1.5)]).range([FACET_H - M.bottom, M.top]).clamp(true);
  let svg = d3.select(fig).select("svg");
  if (svg.empty()) svg = d3.select(fig).append("svg").attr("class", "samples-sweep").attr("role", "img");
  svg.attr("viewBox", `0 0 ${width} ${height}`).attr("width", width).attr("height", height)
    .attr("aria-label", "global edges of every node set against the number of inputs, one panel per circuit family");
  svg.selectAll("*").remove();
  const cur = state.config.samples;
  const marked = cur >= x.domain()[0] && cur <= x.domain()[1];
  legend(fig, bases, marked);
  const decades = [];
  for (let p = 1; p <= y.domain()[1]; p *= 10) decades.push(p);
  const line = d3.line().x((p) => x(p.samples)).y((p) => y(Math.max(p.global_edges_median, 0.8)));
  data.families.forEach((fam, i) => {
    const g = svg.append("g").attr("class", "facet").attr("data-family", fam)
      .attr("transform", stacked ? `translate(0,${i * FACET_H})` : `translate(${i * fw},0)`);
    g.append("text").attr("class", "facet-title").attr("x", M.left).attr("y", 13).text(fw >= 300 ? `${fam} circuits: global edges (log)` : `${fam} circuits`)
      .each(function () { this.style.setProperty("fill", familyColor(fam)); });
    g.append("g").attr("class", "axis y").attr("transform", `translate(${M.left},0)`)
      .call(d3.axisLeft(y).tickValues(decades).tickFormat(d3.format(",")).tickSizeOuter(0));
    g.append("g").attr("class", "axis x").attr("transform", `translate(0,${FACET_H - M.bottom})`)
      .call(d3.axisBottom(x).tickValues(xs.filter((s, j) => fw > 420 || j % 2 === 0)).tickFormat(d3.format("~s")).tickSizeOuter(0));
    g.append("text").attr("class", "axis-title").attr("x", fw - M.right).attr("y", FACET_H - 6).attr("text-anchor", "end")
      .text("inputs in the dataset (log)");
    if (marked) {
      g.append("line").attr("class", "samples-marker").attr("x1", x(cur)).attr("x2", x(cur))
        .attr("y1", M.top).attr("y2", FACET_H - M.bottom);
    }
    for (const b of bases) {
      const series = pts.filter((p) => p.family === fam && p.basis === b.id);
      const s = g.append("g").attr("class", "series").attr("data-basis", b.id);
      s.append("path").attr("d", line(series)).attr("fill", "none").attr("stroke-width", 2)
        .each(function () { this.style.setProperty("stroke", nodeSetColor(b.id)); });
      s.selectAll("circle").data(series).join("circle")
        .attr("cx", (p) => x(p.samples)).attr("cy", (p) => y(Math.max(p.global_edges_median, 0.8))).attr("r", 3)
        .attr("data-samples", (p) => p.samples).attr("data-value", (p) => JSON.stringify(p.global_edges_median))
        .each(function () { this.style.setProperty("fill", nodeSetColor(b.id)); })
        .append("title").text((p) => `${b.id}, ${fam} circuits, ${p.samples.toLocaleString("en")} inputs: ${plural(p.global_edges_median, "global edge")}`);
    }
  });
}

function legend(fig, bases, marked) {
  const box = d3.select(fig).selectAll("p.sweep-legend").data([0]).join("p").attr("class", "sweep-legend");
  const item = box.selectAll("span.item").data(bases, (b) => b.id).join("span").attr("class", "item");
  item.selectAll("i").data((b) => [b]).join("i").each(function (b) {
    this.style.setProperty("background", nodeSetColor(b.id));
  });
  item.selectAll("span").data((b) => [b]).join("span").text((b) => (b.oracle ? `${b.id} (oracle)` : b.id));
  box.selectAll("span.marker-note").data([0]).join("span").attr("class", "marker-note")
    .text(marked ? `dashed line: the table's ${formatCount(state.config.samples)} inputs`
      : `the table's ${formatCount(state.config.samples)} inputs lie outside this grid`);
}
