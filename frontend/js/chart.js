// Grouped bar chart of the table: one group per circuit family, one bar per node set, on a log
// scale (counts run from 1 to thousands). Bars use the node-set hues; family labels use the
// family hues. Clicking a bar selects the same thing as clicking its table cell.

import d3 from "./d3.js";
import { familyColor, nodeSetColor } from "./colors.js";
import { shownBases, state, update } from "./state.js";
import { formatCount, plural } from "./format.js";
import { seedRange } from "./story.js";
import { circuitForFamily, rangeText, stepMarks } from "./table.js";

const HEIGHT = 280;
const M = { top: 22, right: 10, bottom: 46, left: 56 }; // left: room for a "10,000" tick

export function render(root) {
  const t = state.data.table;
  if (!t) return;
  const view = state.ui.view;
  const key = view === "local" ? "local_edges_median" : "global_edges_median";
  const bases = shownBases();
  const marks = stepMarks();
  const families = t.families;
  const cells = new Map(t.cells.map((c) => [`${c.basis}\u0000${c.family}`, c]));
  const width = Math.max(280, Math.round(root.clientWidth || 480));

  const data = [];
  for (const fam of families) {
    for (const b of bases) {
      const c = cells.get(`${b.id}\u0000${fam}`);
      const range = seedRange(c, view);
      data.push({ family: fam, basis: b.id, value: range ? range.median : c ? c[key] : null, range });
    }
  }
  const max = d3.max(data, (d) => (d.range ? Math.max(d.range.max, d.value) : d.value)) || 1;
  const floor = 0.5;
  const y = d3
    .scaleLog()
    .domain([floor, Math.max(10, max * 1.8)])
    .range([HEIGHT - M.bottom, M.top])
    .clamp(true);
  const x0 = d3.scaleBand().domain(families).range([M.left, width - M.right]).paddingInner(0.18).paddingOuter(0.06);
  const x1 = d3.scaleBand().domain(bases.map((b) => b.id)).range([0, x0.bandwidth()]).padding(0.1);

  let svg = d3.select(root).select("svg.bars");
  if (svg.empty()) {
    svg = d3.select(root).append("svg").attr("class", "bars").attr("role", "img");
  }
  svg
    .attr("viewBox", `0 0 ${width} ${HEIGHT}`)
    .attr("width", width)
    .attr("height", HEIGHT)
    .attr("aria-label", `${view} edge counts on a log scale, grouped by circuit family`);
  svg.selectAll("*").remove();

  drawAxes(svg, y, width, view);
  drawBars(svg, data, families, { x0, x1, y, floor, view, marks });
  drawFamilyLabels(svg, families, x0);
}

/** Decade grid lines, the log axis (room for a "10,000" tick) and its title. */
function drawAxes(svg, y, width, view) {
  const decades = [];
  for (let p = 1; p <= y.domain()[1]; p *= 10) decades.push(p);
  const grid = svg.append("g").attr("class", "grid");
  grid
    .selectAll("line")
    .data(decades)
    .join("line")
    .attr("x1", M.left)
    .attr("x2", width - M.right)
    .attr("y1", (d) => y(d))
    .attr("y2", (d) => y(d));
  svg
    .append("g")
    .attr("class", "axis y")
    .attr("transform", `translate(${M.left},0)`)
    .call(d3.axisLeft(y).tickValues(decades).tickFormat(d3.format(",")).tickSizeOuter(0));
  svg
    .append("text")
    .attr("class", "axis-title")
    .attr("x", 4)
    .attr("y", 12)
    .text(`${view} edges (log scale)`);
}

/** One group per family, one bar per node set; a click selects like the table cell. */
function drawBars(svg, data, families, { x0, x1, y, floor, view, marks }) {
  const groups = svg
    .append("g")
    .selectAll("g.family")
    .data(families)
    .join("g")
    .attr("class", "family")
    .attr("transform", (f) => `translate(${x0(f)},0)`);

  const bar = groups
    .selectAll("g.bar")
    .data((f) => data.filter((d) => d.family === f))
    .join("g")
    .attr("class", "bar")
    .attr("data-basis", (d) => d.basis)
    .attr("data-family", (d) => d.family)
    .attr("data-value", (d) => JSON.stringify(d.value))
    .classed("selected", (d) => d.basis === state.ui.basis && selectedFamily() === d.family)
    .classed("story-mark", (d) => marks.has(`${d.basis}\u0000${d.family}`))
    .on("click", (ev, d) =>
      update({ ui: { basis: d.basis, circuit: circuitForFamily(d.family, d.basis), node: null, step: null } }, "push", "chart"),
    );
  bar
    .append("rect")
    .attr("x", (d) => x1(d.basis))
    .attr("width", x1.bandwidth())
    .attr("y", (d) => (d.value > 0 ? y(d.value) : y(floor)))
    .attr("height", (d) => (d.value > 0 ? y(floor) - y(d.value) : 0))
    .each(function (d) {
      this.style.setProperty("fill", nodeSetColor(d.basis));
    });
  bar.append("title").text((d) => `${d.basis}, ${d.family} circuits: ${plural(d.value, `${view} edge`)}` +
    (d.range ? ` (median over seeds; range ${rangeText(d.range)})` : ""));
  drawWhiskers(bar.filter((d) => d.range && d.range.max > 0), x1, y, floor);
  if (x1.bandwidth() >= 13) {
    bar
      .append("text")
      .attr("class", "bar-label")
      .attr("x", (d) => x1(d.basis) + x1.bandwidth() / 2)
      .attr("y", (d) => Math.min(d.value > 0 ? y(d.value) : y(floor), d.range && d.range.max > 0 ? y(d.range.max) : Infinity) - 3)
      .text((d) => formatCount(d.value));
  }

}

/** The range over seeds as a whisker through the bar: a line from min to max with caps. */
function drawWhiskers(bar, x1, y, floor) {
  const w = bar.append("g").attr("class", "whisker")
    .attr("data-min", (d) => JSON.stringify(d.range.min))
    .attr("data-max", (d) => JSON.stringify(d.range.max));
  const cx = (d) => x1(d.basis) + x1.bandwidth() / 2;
  const cap = Math.max(2, Math.min(6, x1.bandwidth() / 4));
  const yv = (v) => y(v > 0 ? v : floor);
  w.append("line").attr("x1", cx).attr("x2", cx).attr("y1", (d) => yv(d.range.min)).attr("y2", (d) => yv(d.range.max));
  for (const end of ["min", "max"]) {
    w.append("line").attr("x1", (d) => cx(d) - cap).attr("x2", (d) => cx(d) + cap)
      .attr("y1", (d) => yv(d.range[end])).attr("y2", (d) => yv(d.range[end]));
  }
}

/** Family names under the groups, on a band in the family's hue. */
function drawFamilyLabels(svg, families, x0) {
  const axis = svg.append("g").attr("class", "axis x");
  const label = axis
    .selectAll("g")
    .data(families)
    .join("g")
    .attr("transform", (f) => `translate(${x0(f) + x0.bandwidth() / 2},${HEIGHT - M.bottom + 16})`);
  label
    .append("rect")
    .attr("class", "fam-band")
    .attr("x", -x0.bandwidth() / 2)
    .attr("y", -13)
    .attr("width", x0.bandwidth())
    .attr("height", 4)
    .each(function (f) {
      this.style.setProperty("fill", familyColor(f));
    });
  const wide = x0.bandwidth() > 120;
  label
    .append("text")
    .attr("y", 6)
    .text((f) => (wide ? `${f} circuits` : f));
}

function selectedFamily() {
  const c = ((state.data.model && state.data.model.circuits) || []).find((x) => x.id === state.ui.circuit);
  return c ? c.family : null;
}
