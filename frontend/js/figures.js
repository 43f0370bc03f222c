// Figure downloads: every chart and panel as SVG and PNG.
//
// The drawings are styled by app.css, which a standalone SVG file does not have, so the copy
// gets each element's computed style written inline. The PNG is that SVG drawn onto a canvas
// (drawImage of a blob: image) at twice the size, so it stays sharp on a slide.

const STYLE_PROPS = [
  "fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray",
  "stroke-linecap", "stroke-linejoin", "opacity", "display", "visibility",
  "font-family", "font-size", "font-weight", "font-style", "text-anchor", "dominant-baseline",
  "paint-order",
];
const SVG_NS = "http://www.w3.org/2000/svg";

/** A standalone SVG document (text) of `svg`, with its computed styles inline. `legend`:
 * optional [[label, colour], ...] drawn as one row under the figure (the page's chart leans on
 * the table's coloured headers, which a file on its own does not have). */
export function serializeSvg(svg, legend = null) {
  const clone = svg.cloneNode(true);
  const src = [svg, ...svg.querySelectorAll("*")];
  const dst = [clone, ...clone.querySelectorAll("*")];
  src.forEach((el, i) => {
    const cs = getComputedStyle(el);
    const out = dst[i];
    for (const p of STYLE_PROPS) {
      const v = cs.getPropertyValue(p);
      if (v) out.style.setProperty(p, v);
    }
    out.removeAttribute("class");
    out.removeAttribute("tabindex");
  });
  const { width, height: h0 } = size(svg);
  const height = legend && legend.length ? h0 + LEGEND_H : h0;
  if (height !== h0) addLegend(clone, legend, h0, width);
  clone.setAttribute("viewBox", `0 0 ${width} ${height}`);
  clone.setAttribute("xmlns", SVG_NS);
  clone.setAttribute("width", String(width));
  clone.setAttribute("height", String(height));
  // A white ground, so the figure reads the same on a dark viewer.
  const bg = document.createElementNS(SVG_NS, "rect");
  bg.setAttribute("width", "100%");
  bg.setAttribute("height", "100%");
  bg.setAttribute("fill", "#ffffff");
  clone.insertBefore(bg, clone.firstChild);
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
}

const LEGEND_H = 26;

function addLegend(clone, legend, top, width) {
  const g = document.createElementNS(SVG_NS, "g");
  g.setAttribute("transform", `translate(0,${top + 8})`);
  let x = 8;
  for (const [label, colour] of legend) {
    const sw = document.createElementNS(SVG_NS, "rect");
    for (const [k, v] of Object.entries({ x, y: 0, width: 12, height: 12, fill: colour, stroke: "#555", "stroke-width": 0.5 })) sw.setAttribute(k, String(v));
    const t = document.createElementNS(SVG_NS, "text");
    for (const [k, v] of Object.entries({ x: x + 16, y: 10, "font-size": 12, "font-family": "sans-serif", fill: "#1d232b" })) t.setAttribute(k, String(v));
    t.textContent = label;
    g.append(sw, t);
    x += 30 + 7 * label.length;
    if (x > width - 40) break;
  }
  clone.appendChild(g);
}

function size(svg) {
  const vb = svg.viewBox && svg.viewBox.baseVal;
  const r = svg.getBoundingClientRect();
  return {
    width: Math.round((vb && vb.width) || r.width || 600),
    height: Math.round((vb && vb.height) || r.height || 400),
  };
}

/** PNG blob of an SVG element, drawn at `scale` times its size. */
export function svgToPng(svg, scale = 2, legend = null) {
  const text = serializeSvg(svg, legend);
  const { width, height: h0 } = size(svg);
  const height = legend && legend.length ? h0 + LEGEND_H : h0;
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the PNG could not be encoded"))), "image/png");
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("the SVG could not be drawn"));
    };
    img.src = url;
  });
}

/** Save a blob under `name` (an <a download> click; works from file:// too). */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A file-name-safe stem: letters, digits, '-' only. */
export function fileStem(...parts) {
  return parts
    .filter(Boolean)
    .join("-")
    .replace(/[^A-Za-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80) || "figure";
}

/**
 * Two small buttons, "SVG" and "PNG", for the figure `getSvg()` returns at click time (views
 * redraw their SVGs, so the element is looked up when the reader asks, not when built).
 */
export function figureTools(getSvg, getName, label, getLegend = () => null) {
  const wrap = document.createElement("span");
  wrap.className = "fig-tools";
  for (const kind of ["svg", "png"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `fig-dl fig-${kind}`;
    b.textContent = kind.toUpperCase();
    b.setAttribute("aria-label", `Download ${label} as ${kind.toUpperCase()}`);
    b.title = `Download ${label} as ${kind.toUpperCase()}`;
    b.addEventListener("click", async () => {
      const svg = getSvg();
      if (!svg) return;
      const name = `${getName()}.${kind}`;
      const legend = getLegend();
      if (kind === "svg") downloadBlob(new Blob([serializeSvg(svg, legend)], { type: "image/svg+xml" }), name);
      else downloadBlob(await svgToPng(svg, 2, legend), name);
    });
    wrap.appendChild(b);
  }
  return wrap;
}
