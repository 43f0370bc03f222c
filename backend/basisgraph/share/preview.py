"""The link-preview image: the edge-count chart as a 1200x630 PNG, drawn with Pillow.

Chat apps and social sites show `og:image` as a thumbnail, often 400-600 px wide, so everything
here is drawn large: few words, thick bars, numbers on top of the bars. The layout mirrors the
page's chart (grouped bars on a log scale, one group per circuit family, one hue per node set),
and the numbers are the table's (`counts.table`), never recomputed.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from basisgraph.fmt import format_count

__all__ = ["WIDTH", "HEIGHT", "render_preview"]

WIDTH, HEIGHT = 1200, 630
INK, MUTED, GRID, PAPER = "#1d232b", "#5b6470", "#d9dee4", "#ffffff"
# Mirrors frontend/js/colors.js (Okabe-Ito): one hue per node set, one per circuit family.
NODE_SET = {"neuron": "#8c8c8c", "animal": "#E69F00", "attribute": "#56B4E9", "half": "#009E73",
            "mixed": "#CC79A7", "spd": "#0072B2", "hidden": "#5a5a5a"}
UNION = "#B8A900"
FAMILY = {"animal": "#E69F00", "attribute": "#56B4E9", "composite": "#CC79A7"}
FALLBACK = ["#0072B2", "#D55E00", "#000000", "#999999"]
_FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu when the system has it; else Pillow's bundled font, so a slim image still works.
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _FONT_DIRS:
        if (d / name).is_file():
            return ImageFont.truetype(str(d / name), size)
    return ImageFont.load_default(size=size)


def _hue(basis: str) -> str:
    if basis in NODE_SET:
        return NODE_SET[basis]
    if basis.startswith("union"):
        return UNION
    h = 0
    for ch in basis:  # colors.js hashIndex, so a learned dictionary has the page's hue
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return FALLBACK[h % len(FALLBACK)]


def _count(v: float | None) -> str:
    """The page's rounding rule (frontend/js/format.js): whole numbers as they are, else one
    decimal, so a median of 314.5 reads 314.5 in the image as on the page and in the CLI."""
    return format_count(v, missing="–")


def _text(d: ImageDraw.ImageDraw, xy: tuple[float, float], s: str, size: int, fill: str = INK,
          bold: bool = False, anchor: str = "la") -> None:
    d.text(xy, s, font=_font(size, bold), fill=fill, anchor=anchor)


def _fit(s: str, size: int, width: float, bold: bool = False) -> str:
    font = _font(size, bold)
    while len(s) > 4 and font.getlength(s) > width:
        s = s[:-2] + "…"
    return s


def _subtitle(cfg: dict[str, Any], view: str, model: str = "") -> str:
    parts = [f"N = {cfg['animals']:,} animals", f"d = {cfg['attributes']} attributes"]
    if cfg.get("random_dims"):
        parts.append(f"+{cfg['random_dims']} random dims")
    parts += [f"k = {cfg['active']}", f"τ = {cfg['coverage']:g}"]
    return f"{view} edges per circuit{model} · " + ", ".join(parts)


def render_preview(table: dict[str, Any], view: str = "local") -> bytes:
    """PNG bytes of the grouped bar chart of `table` (the /api/v1/table JSON) for `view`."""
    key = "local_edges_median" if view == "local" else "global_edges_median"
    img = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    d = ImageDraw.Draw(img)
    cfg = table.get("config", {})
    bases = [b["id"] for b in table.get("bases", [])]
    families = list(table.get("families", []))
    cells = {(c["basis"], c["family"]): c.get(key) for c in table.get("cells", [])}

    _text(d, (48, 30), "basisgraph", 46, bold=True)
    _text(d, (48 + _font(46, True).getlength("basisgraph") + 22, 50),
          _fit("how many edges does each circuit need?", 28, 640), 28, MUTED)
    model = " of the trained MLP" if table.get("model") == "trained" else ""
    _text(d, (48, 96), _fit(_subtitle(cfg, view, model), 24, WIDTH - 96), 24, MUTED)

    # Plot area and a log scale from 0.7 (so a count of 1 shows as a visible stub) upwards.
    left, right, top, bottom = 110, WIDTH - 40, 150, 500
    values = [v for v in cells.values() if v]
    hi = max(values, default=10)
    lo_log, hi_log = math.log10(0.7), math.log10(max(10.0, hi * 2.2))

    def y(v: float) -> float:
        # A median below the axis floor (0.5 from counts of 0 and 1) sits at the floor.
        return bottom - (math.log10(max(v, 0.7)) - lo_log) / (hi_log - lo_log) * (bottom - top)

    decade = 1
    while decade <= 10 ** hi_log:
        yy = y(decade)
        d.line([(left, yy), (right, yy)], fill=GRID, width=2)
        _text(d, (left - 14, yy), f"{decade:,}", 24, MUTED, anchor="rm")
        decade *= 10
    d.line([(left, bottom), (right, bottom)], fill=INK, width=3)

    if families and bases:
        group_w = (right - left) / len(families)
        inner = group_w * 0.84
        bar_w = inner / len(bases)
        label_size = 26 if bar_w >= 44 else 20 if bar_w >= 32 else 0
        for fi, fam in enumerate(families):
            gx = left + fi * group_w + (group_w - inner) / 2
            for bi, basis in enumerate(bases):
                v = cells.get((basis, fam))
                x0, x1 = gx + bi * bar_w + 3, gx + (bi + 1) * bar_w - 3
                if v:
                    d.rectangle([x0, y(v), x1, bottom], fill=_hue(basis))
                if label_size:
                    _text(d, ((x0 + x1) / 2, (y(v) if v else bottom) - 6), _count(v), label_size,
                          bold=True, anchor="md")
            cx = left + (fi + 0.5) * group_w
            d.rectangle([gx, bottom + 10, gx + inner, bottom + 18], fill=FAMILY.get(fam, MUTED))
            _text(d, (cx, bottom + 26), _fit(f"{fam} circuits", 30, group_w - 10), 30, bold=True, anchor="ma")

    # Legend: one swatch per node set, centred; a smaller font and two lines when they do not fit.
    size = 26
    font = _font(size)
    widths = [34 + font.getlength(b) + 30 for b in bases]
    lines = [list(zip(bases, widths))]
    if sum(widths) > WIDTH - 96:
        size, font = 20, _font(20)
        widths = [28 + font.getlength(b) + 22 for b in bases]
        half = (len(bases) + 1) // 2
        lines = [list(zip(bases, widths))[:half], list(zip(bases, widths))[half:]]
    for li, line in enumerate(lines):
        y0 = 592 if len(lines) == 1 else 574 + 30 * li
        x = max(48.0, (WIDTH - sum(w for _, w in line)) / 2)
        for b, w in line:
            d.rectangle([x, y0 - size // 2, x + size - 2, y0 + size // 2 - 2], fill=_hue(b))
            _text(d, (x + size + 8, y0), b, size, anchor="lm")
            x += w
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
