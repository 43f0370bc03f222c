// Share, Embed and Download HTML: the header controls that hand the current view to someone
// else, plus the chart's SVG/PNG buttons. A separate entry module: it reads the shared `state`
// when the reader asks and never changes it.
//
// Copying uses the async clipboard API where the page may (a secure, unsandboxed context).
// Elsewhere (plain http, a sandboxed frame, a refused permission) the text stays in a selected
// field with a hint to press Ctrl+C, so the link is never lost.
//
// In a one-file export (no server) there is nothing to share by link: the controls are left
// out, and the configuration fields are disabled because the file carries one configuration.

import { inlineData } from "./datasource.js";
import { fileStem, figureTools } from "./figures.js";
import { nodeSetColor } from "./colors.js";
import { shownBases, state, toQuery } from "./state.js";

// Initial frame heights per embed layout; mirrors EMBED_HEIGHTS in basisgraph/embed.py.
export const EMBED_HEIGHTS = { table: 520, graphs: 820, both: 1280 };

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k === "className") e.className = v;
    else e.setAttribute(k, String(v));
  }
  e.append(...children);
  return e;
}

/** The full link of what is on screen. */
export function shareUrl() {
  return `${location.origin}${location.pathname}?${toQuery(state)}`;
}

/** /embed's query: the state, `count` for local/global, `view` for the layout. */
export function embedQuery(layout) {
  const p = new URLSearchParams(toQuery(state));
  if (p.get("view") === "global") p.set("count", "global");
  p.delete("view");
  p.set("view", layout);
  return p.toString();
}

function escapeAttr(s) {
  return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The iframe snippet for the current view (the same markup /oembed returns). */
export function embedSnippet(layout) {
  const src = `${location.origin}/embed?${embedQuery(layout)}`;
  const c = state.config;
  const title = `basisgraph: edge counts for ${c.animals} animals in ${c.attributes} attributes`;
  return (
    `<iframe src="${escapeAttr(src)}" width="100%" height="${EMBED_HEIGHTS[layout]}" title="${escapeAttr(title)}" ` +
    `loading="lazy" sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" ` +
    `style="border:0;max-width:100%"></iframe>`
  );
}

// A host page may resize the frame from the height messages the embed posts, and open the app
// when the frame's sandbox blocks popups ("Open in basisgraph" posts basisgraph:link); only
// links to the frame's own site are followed.
const RESIZER =
  '<script>addEventListener("message", (e) => { const d = e.data; if (!d) return; ' +
  'for (const f of document.querySelectorAll("iframe")) { if (f.contentWindow !== e.source) continue; ' +
  'if (d.type === "basisgraph:height") f.style.height = d.height + "px"; ' +
  'if (d.type === "basisgraph:link" && new URL(d.href, f.src).origin === new URL(f.src).origin) window.open(d.href, "_blank", "noopener"); } });</script>';

async function copy(field, status) {
  field.focus();
  field.select();
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
    await navigator.clipboard.writeText(field.value);
    status.textContent = "Copied.";
  } catch (_) {
    // The selected field is the fallback: one key press copies it.
    status.textContent = "Copying is not allowed here: the text is selected, press Ctrl+C (⌘C on a Mac).";
  }
}

function copyRow(id, label, multiline) {
  const field = multiline
    ? el("textarea", { id, rows: "4", readonly: "", spellcheck: "false" })
    : el("input", { id, type: "text", readonly: "", spellcheck: "false" });
  field.addEventListener("focus", () => field.select());
  const status = el("p", { className: "copy-status", role: "status", "aria-live": "polite" });
  const btn = el("button", { type: "button", className: "copy", text: "Copy" });
  btn.addEventListener("click", () => copy(field, status));
  const row = el("div", { className: "copy-row" }, el("label", { for: id, text: label }), field, btn);
  return { row, field, status, btn };
}

function buildPanel(panel) {
  const share = copyRow("share-url", "Link to this exact view", false);
  const shareBox = el("div", { className: "share-part", id: "share-part" }, share.row, share.status,
    el("p", { className: "hint", text: "The link holds the whole state and keeps its meaning after updates (it carries its version, v=1 or v=2)." }));

  const layout = el("select", { id: "embed-layout" });
  for (const [v, t] of [["both", "table and graphs"], ["table", "table only"], ["graphs", "graphs only"]]) {
    layout.append(el("option", { value: v, text: t }));
  }
  const snippet = copyRow("embed-snippet", "Iframe to paste into a page", true);
  const resize = copyRow("embed-resizer", "Optional script that fits the frame to its content", true);
  resize.field.value = RESIZER;
  const embedBox = el("div", { className: "share-part", id: "embed-part" },
    el("div", { className: "field" }, el("label", { for: "embed-layout", text: "Show" }), layout),
    snippet.row, snippet.status, resize.row, resize.status,
    el("p", { className: "hint", text: "The frame works inside sandbox=\"allow-scripts\". Sites that read oEmbed (WordPress, Ghost, Embedly) can embed the page link itself." }));
  layout.addEventListener("change", () => (snippet.field.value = embedSnippet(layout.value)));

  const close = el("button", { type: "button", className: "dismiss", "aria-label": "Close", text: "×" });
  close.addEventListener("click", () => toggle(panel, null));
  panel.append(close, shareBox, embedBox);
  return { share, snippet, layout, shareBox, embedBox };
}

let parts = null;
let open = null;

function toggle(panel, which) {
  open = which === open ? null : which;
  panel.hidden = !open;
  if (!open) return;
  parts.shareBox.hidden = open !== "share";
  parts.embedBox.hidden = open !== "embed";
  if (open === "share") {
    parts.share.field.value = shareUrl();
    parts.share.status.textContent = "";
    copy(parts.share.field, parts.share.status);
  } else {
    parts.snippet.field.value = embedSnippet(parts.layout.value);
    parts.snippet.status.textContent = "";
    parts.snippet.field.focus();
  }
}

function downloadHtml() {
  const a = el("a", { href: `/api/v1/export.html?${toQuery(state)}`, download: "", hidden: "" });
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function buildBar(header) {
  const panel = el("div", { id: "share-panel", className: "share-panel", role: "region", "aria-label": "Share and embed" });
  panel.hidden = true;
  parts = buildPanel(panel);
  const btn = (id, text, title, fn) => {
    const b = el("button", { type: "button", id, className: "share-btn", title, text });
    b.addEventListener("click", fn);
    return b;
  };
  const bar = el("div", { className: "share-bar", id: "share-bar" },
    btn("share-btn", "Share", "Copy a link to this exact view", () => toggle(panel, "share")),
    btn("embed-btn", "Embed", "Get an iframe for a blog post or page", () => toggle(panel, "embed")),
    btn("export-btn", "Download HTML", "One file with the data and graphs; opens offline", downloadHtml));
  header.append(bar);
  header.after(panel);
}

// The page's other figures: the edge-count chart and the α sweep (panels add their own).
const FIGURES = [
  ["#counts .section-head", "#chart svg", "the chart", () => fileStem("basisgraph", "chart", state.ui.view),
    () => shownBases().map((b) => [b.id, nodeSetColor(b.id)])],
  ["#sweep .section-head", "#sweep .sweep-chart svg", "the α sweep", () => fileStem("basisgraph", "alpha-sweep", state.ui.view),
    () => null],
  ["#samples-sweep .section-head", "#samples-sweep .samples-chart svg", "the samples sweep",
    () => fileStem("basisgraph", "samples-sweep"), () => shownBases().map((b) => [b.id, nodeSetColor(b.id)])],
  ["#sae .sae-sweep .section-head", "#sae .sae-sweep-chart svg", "the SAE sweep",
    () => fileStem("basisgraph", "sae-sweep", state.ui.view), () => null],
];

function chartTools() {
  for (const [where, svg, label, name, legend] of FIGURES) {
    const head = document.querySelector(where);
    if (head) head.append(figureTools(() => document.querySelector(svg), name, label, legend));
  }
}

function exportMode() {
  for (const e of document.querySelectorAll("#config-form input, #config-form select, #config-form button")) e.disabled = true;
  const form = $("config-form");
  if (form) form.before(el("p", { className: "hint export-note", text: "This file carries one configuration and the graphs in its pickers. Open basisgraph to change them." }));
  // The α sweep needs one table per α, which the file does not carry.
  for (const [sel, what] of [["#sweep button.run", "The α sweep"], ["#samples-sweep button.run", "The samples sweep"]]) {
    const run = document.querySelector(sel);
    if (run) {
      run.disabled = true;
      run.title = `${what} needs the server: open basisgraph to compute it`;
    }
  }
  const caption = $("table-caption");
  const tau = inlineData().table.config.coverage;
  if (caption) caption.after(el("p", { className: "export-note", text: `This file carries the table for τ = ${tau.toFixed(2)}; the coverage slider prunes the graphs below, not this table.` }));
}

function init() {
  const header = document.querySelector("header.site");
  if (inlineData()) exportMode();
  else if (header) buildBar(header);
  chartTools();
}

init();
