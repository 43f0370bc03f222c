// How a reader works the graph panels: the tooltip over nodes, edges and the output (its lines
// are built here), clicking or pressing Enter on a node to highlight it in every panel, the
// "+N more" node asking for more nodes, arrow keys moving focus within a panel behind one
// roving tab stop, and Ctrl/⌘-wheel or pinch zoom. Every change goes through state's update.

import d3 from "./d3.js";
import { MAX_TOP, TOP } from "./api.js";
import { state, update } from "./state.js";
import { ERROR, MORE, THRESHOLD } from "./panelnodes.js";
import { fmtW, placeLabels, yOf } from "./panellayout.js";

let tooltip = null;

// ---- tooltip ----------------------------------------------------------------------------------

function showTip(lines, x, y) {
  if (!tooltip) tooltip = document.getElementById("tooltip");
  tooltip.replaceChildren(
    ...lines.map((l, i) => {
      const d = document.createElement("div");
      if (i === 0) d.className = "tip-title";
      d.textContent = l;
      return d;
    }),
  );
  tooltip.hidden = false;
  const r = tooltip.getBoundingClientRect();
  const left = Math.min(x + 14, window.innerWidth - r.width - 6);
  const top = y + 14 + r.height > window.innerHeight ? y - r.height - 10 : y + 14;
  tooltip.style.setProperty("left", `${Math.max(4, left)}px`);
  tooltip.style.setProperty("top", `${Math.max(4, top)}px`);
}

/** Hide the tooltip (before a redraw removes what it points at). */
export function hideTip() {
  if (tooltip) tooltip.hidden = true;
}

function nodeLines(panel, d) {
  const total = panel.totalAbs || 0;
  const a = d.abs ?? Math.abs(d.weight || 0);
  const lines = [d.label || d.id, `id: ${d.id}`];
  if (d.kind === MORE) {
    const e = panel.edges.find((x) => x.key === MORE);
    if (e && e.kind === "pruned") lines.push(`${e.total} edges beyond τ, folded (not counted)`, `weight (sum): ${fmtW(e.weight)}`);
    else if (e) lines.push(`${e.total} edges folded by the API; ${e.count} of them are needed for τ`, `weight (sum): ${fmtW(e.weight)}`);
    if ((state.ui.top || TOP) < MAX_TOP) lines.push("click to list more of them");
    return lines;
  }
  if (d.kind === THRESHOLD) {
    return [d.label, `−b${state.ui.input === "dataset" ? " on the inputs where the circuit fires, averaged over all inputs" : ""}: ${fmtW(d.weight)}`,
      `reader's input r·a ${fmtW(panel.graph.total)} + threshold ${fmtW(d.weight)} = output y ${fmtW(panel.graph.output)}`,
      "not an edge: never counted; the edges split r·a"];
  }
  lines.push(`weight: ${fmtW(d.weight)}`);
  if (d.ablation_pre !== undefined) lines.push(`ablated: r·a falls by ${fmtW(d.ablation_pre)}, y by ${fmtW(d.ablation_output)}`);
  if (total > 0) lines.push(`share of |attribution|: ${(100 * a / total).toFixed(1)}%`);
  if (d.kind === ERROR) lines.push("reconstruction error: shown, never counted");
  else if (panel.counted.has(d.id)) lines.push("counted: needed to reach τ");
  else lines.push("beyond τ: folded into the grey edge");
  return lines;
}

function edgeLines(panel, d) {
  const total = panel.totalAbs || 0;
  const share = total > 0 ? ` (${(100 * d.abs / total).toFixed(1)}% of |attribution|)` : "";
  const c = panel.graph.circuit || {};
  if (d.kind === "pruned") return [`${d.total} edges beyond τ`, `folded into one, not counted`, `weight (sum): ${fmtW(d.weight)}${share}`];
  if (d.kind === "folded") return [d.label, `${d.count} of these ${d.total} edges are counted`, `weight (sum): ${fmtW(d.weight)}${share}`];
  if (d.kind === "error") return ["error → " + (c.label || c.id), `weight: ${fmtW(d.weight)}${share}`, "reconstruction error: never counted"];
  return [`${d.label || d.source} → ${c.label || c.id}`, `weight: ${fmtW(d.weight)}${share}`];
}

// ---- binding the drawn marks ------------------------------------------------------------------

/** Tooltip, click and keys on a panel's node marks (a d3 selection of g.node). */
export function bindNodes(g, panel) {
  return g.on("pointerenter pointermove", (ev, d) => showTip(nodeLines(panel, d), ev.clientX, ev.clientY))
    .on("pointerleave", hideTip)
    .on("focus", function (ev, d) {
      const r = this.getBoundingClientRect();
      showTip(nodeLines(panel, d), r.right, r.bottom);
    })
    .on("blur", hideTip)
    .on("click", (ev, d) => (d.kind === MORE ? expandMore(panel) : d.kind === THRESHOLD ? null : toggleNode(d.id)))
    .on("keydown", (ev, d) => onNodeKey(ev, d, panel));
}

/** Tooltip on a panel's edge paths (a d3 selection of path.edge). */
export function bindEdges(sel, panel) {
  return sel.on("pointerenter pointermove", (ev, d) => showTip(edgeLines(panel, d), ev.clientX, ev.clientY))
    .on("pointerleave", hideTip);
}

/** Tooltip with fixed `lines` on the output node (a d3 selection). */
export function bindOutput(out, lines) {
  return out.on("pointerenter pointermove", (ev) => showTip(lines, ev.clientX, ev.clientY)).on("pointerleave", hideTip);
}

/**
 * Zoom and pan: Ctrl/⌘ + wheel or a pinch zooms (a plain wheel keeps scrolling the page), a
 * drag pans, a double click resets. Labels are re-placed for the zoomed row spacing.
 */
export function attachZoom(panel, svg, view, width, height) {
  panel.zoomK = 1;
  const zoom = d3
    .zoom()
    .scaleExtent([1, 12])
    .translateExtent([[0, 0], [width, height]])
    .filter((ev) => (ev.type === "wheel" ? ev.ctrlKey || ev.metaKey : !ev.button && ev.type !== "dblclick"))
    .on("zoom", (ev) => {
      view.attr("transform", ev.transform);
      if (ev.transform.k !== panel.zoomK) {
        panel.zoomK = ev.transform.k;
        placeLabels(panel);
      }
    });
  svg.call(zoom).on("dblclick.zoom", null).on("dblclick", () => svg.call(zoom.transform, d3.zoomIdentity));
}

// ---- selection and keyboard -------------------------------------------------------------------

/** "+N more": ask the API for four times as many nodes per panel (up to its maximum). */
function expandMore(panel) {
  const e = panel.edges.find((x) => x.key === MORE);
  if (!e) return;
  const top = Math.min(MAX_TOP, 4 * (state.ui.top || TOP));
  if (top > (state.ui.top || TOP)) update({ ui: { top } }, "push", "panels");
}

function toggleNode(id) {
  if (id === THRESHOLD) return; // drawn for reading, not a node of any set
  update({ ui: { node: state.ui.node === id ? null : id } }, "push", "panels");
}

function focusableNodes(panel) {
  return panel.svg
    .selectAll("g.node")
    .nodes()
    .filter((el) => !el.classList.contains("hidden"))
    .sort((a, b) => yOf(d3.select(a).datum().id) - yOf(d3.select(b).datum().id));
}

function onNodeKey(ev, d, panel) {
  const list = focusableNodes(panel);
  const i = list.indexOf(ev.currentTarget);
  let next = null;
  if (ev.key === "ArrowDown" || ev.key === "ArrowRight") next = list[Math.min(list.length - 1, i + 1)];
  else if (ev.key === "ArrowUp" || ev.key === "ArrowLeft") next = list[Math.max(0, i - 1)];
  else if (ev.key === "Home") next = list[0];
  else if (ev.key === "End") next = list[list.length - 1];
  else if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    toggleNode(d.id);
    return;
  } else if (ev.key === "Escape") {
    if (state.ui.node) update({ ui: { node: null } }, "push", "panels");
    return;
  } else return;
  ev.preventDefault();
  if (next) {
    for (const el of list) el.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }
}

/** One tab stop per panel: the highlighted node if drawn here, else the top node. */
export function setRovingTabStop(panel) {
  const list = focusableNodes(panel);
  for (const el of list) el.setAttribute("tabindex", "-1");
  const hl = list.find((el) => el.dataset.id === state.ui.node);
  const first = hl || list.find((el) => !el.classList.contains("kind-more")) || list[0];
  if (first) first.setAttribute("tabindex", "0");
}
