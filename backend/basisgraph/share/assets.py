"""Where the page's static files live: inside an installed wheel, or in a checkout (with D3 and
Swagger UI from node_modules, as package-lock.json pins them)."""

from __future__ import annotations

from pathlib import Path

import basisgraph

__all__ = ["VENDOR_FILES", "frontend_dir", "vendor_file"]

_REPO = Path(__file__).resolve().parents[3]
# Where each vendored browser file lives in a checkout after `npm ci` (the wheel copies them).
VENDOR_FILES = {
    "d3.min.js": "node_modules/d3/dist/d3.min.js",
    "swagger-ui-bundle.js": "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "node_modules/swagger-ui-dist/swagger-ui.css",
}


def frontend_dir() -> Path:
    """The static page: inside the installed package (wheel) if present, else the checkout's."""
    packaged = Path(basisgraph.__file__).parent / "frontend"
    return packaged if packaged.is_dir() else _REPO / "frontend"


def vendor_file(name: str) -> Path:
    """A vendored browser file (D3, Swagger UI): the wheel's copy, else node_modules."""
    packaged = frontend_dir() / "vendor" / name
    return packaged if packaged.is_file() else _REPO / VENDOR_FILES[name]
