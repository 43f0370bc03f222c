"""Shared links: the page's whole state in a query string, versioned so old links keep meaning.

A link is `?v=2&<config overrides>&<view choices>`. Defaults are omitted from links, so a link's
meaning rests on the defaults of its version. Those are frozen here per version: a link with
`v=1` (or no `v`, which predates the key) is read against `LINK_DEFAULTS[1]`, never against
whatever `Config` defaults a later release has. When a release changes a default, it adds
`LINK_DEFAULTS[2]`, bumps `VERSION`, and the JS mirror (frontend/js/state.js) does the same;
v=1 links then still fill their missing keys from version 1. tests/test_golden_links.py holds
links with their expected tables and fails if any number moves.

Two readers: `config_from_link` is strict (a bad value raises ConfigError, as the API does) and
`read_link` is lenient (a bad value is dropped and reported, as the page does with a notice).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError

from basisgraph.config import LEGACY, OPTIONAL, Config, explain
from basisgraph.core.seeds import MAX_SEEDS
from basisgraph.dictionaries.learned import FITS

__all__ = ["VERSION", "LINK_DEFAULTS", "UI_KEYS", "Link", "config_from_link", "link_version", "query_version",
           "with_defaults",
           "read_link", "link_query"]

VERSION = 2

_V1_FIELDS = {"animals": 1000, "attributes": 50, "random_dims": 0, "active": 1, "samples": 2000,
              "seed": 0, "coverage": 0.9, "alpha": 0.5, "circuits": 20, "overlay": 0.25,
              "composite_weight": 0.2,
              # Added later with defaults that change no earlier number (config.OPTIONAL), so
              # every version reads an omitted key as that default.
              **OPTIONAL}
_V1_PRESETS = {"post": {}, "bunny": {"animals": 4, "attributes": 2, "samples": 400, "circuits": 4},
               "wide": {"random_dims": 50}}

# Every value a link of each version leaves out: the field defaults, then what each preset sets.
# Version 1 predates `residual` and `overlay_sampling`; its links read them as the values that
# reproduce its numbers (config.LEGACY). Version 2 made the sparse completion and the stratified
# overlay draw the defaults.
LINK_DEFAULTS: dict[int, dict[str, Any]] = {
    1: {"fields": {**_V1_FIELDS, "residual": "minnorm", "overlay_sampling": "topup"},
        "presets": _V1_PRESETS},
    2: {"fields": {**_V1_FIELDS, "residual": "sparse", "overlay_sampling": "stratified"},
        "presets": {**_V1_PRESETS,
                    "small": {"animals": 200, "attributes": 20, "samples": 1000, "circuits": 8}}},
}

# View choices a link may carry besides the configuration (see frontend/js/state.js).
UI_KEYS = ("model", "target", "view", "show", "basis", "circuit", "input", "node", "sae", "seeds", "learned",
           "learned_with")
_ID_RE = re.compile(r"^[A-Za-z0-9_.:+\- ]{1,128}$")
_NODE_SET_RE = re.compile(r"^(?:[a-z]+(?::[0-9.]+)?|sae:[a-z]+:[0-9]{1,5})$")
# A learned dictionary shown as an extra column: kind:width[:sparsity[:steps[:seed]]].
_SAE_RE = re.compile(r"^(relu|topk|batchtopk|matryoshka):[0-9]{1,5}"
                     r"(?::[0-9]{1,4}(?:\.[0-9]{1,6})?(?::[0-9]{1,5}(?::[0-9]{1,10})?)?)?$")
_MAX_VALUE = 128  # longer values are never valid; they are dropped before any parsing


@dataclass(frozen=True)
class Link:
    """A parsed link: the study, the view choices, and the keys that were dropped as invalid."""

    config: Config
    ui: dict[str, Any] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()


def _pairs(query: str | Mapping[str, Any] | Iterable[tuple[str, str]]) -> dict[str, str]:
    if isinstance(query, str):
        items: Iterable[tuple[str, Any]] = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    elif isinstance(query, Mapping):
        items = query.items()
    else:
        items = query
    out: dict[str, str] = {}
    for k, v in items:
        out.setdefault(str(k), str(v))  # the first value wins, as URLSearchParams.get does
    return out


def _version(pairs: Mapping[str, str]) -> int:
    """The link's version. A link with config keys but no `v` predates the key (1); a bare
    visit (no `v`, no config key) is today's page (the newest); an unknown `v` reads as the
    newest."""
    if "v" not in pairs:
        return 1 if any(k in Config.model_fields for k in pairs) else VERSION
    raw = pairs["v"]
    return int(raw) if raw.isdigit() and int(raw) in LINK_DEFAULTS else VERSION


def with_defaults(pairs: Mapping[str, str], version: int) -> dict[str, Any]:
    """The link's config keys with every omitted one filled from its version's defaults."""
    given = {k: v for k, v in pairs.items() if k in Config.model_fields}
    defaults = LINK_DEFAULTS[version]
    preset = given.get("preset", "post")
    filled: dict[str, Any] = dict(defaults["fields"])
    filled.update(defaults["presets"].get(preset, {}))
    filled.update(given)
    return filled


def link_version(query: str | Mapping[str, Any]) -> int:
    """The version a link (or an API query) is read in: see _version."""
    return _version(_pairs(query))


def config_from_link(query: str | Mapping[str, Any]) -> Config:
    """The Config a link names; raises ConfigError for the first invalid value."""
    pairs = _pairs(query)
    try:
        return Config.model_validate(with_defaults(pairs, _version(pairs)))
    except ValidationError as exc:
        raise explain(exc)[0] from None


def _ui(pairs: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    ui: dict[str, Any] = {}
    bad: list[str] = []
    for key in UI_KEYS:
        raw = pairs.get(key)
        if raw is None:
            continue
        if key == "model":
            ok = raw in ("planted", "trained")
        elif key == "target":
            ok = raw in ("aligned", "superposed")  # jobs.trained.TARGET_NAMES
        elif key == "view":
            ok = raw in ("local", "global")
        elif key == "seeds":  # the table across seeds (page: seedscontrol.js); 1 is the plain table
            ok = raw.isdigit() and 1 <= int(raw) <= MAX_SEEDS
        elif key == "learned":
            ok = raw in FITS  # the learned per-circuit view's fit (page: learned.js)
        elif key == "show":
            ids = [s.strip() for s in raw.split(",") if s.strip()]
            ok = 0 < len(ids) <= 16 and all(_NODE_SET_RE.match(s) for s in ids)
            raw = ",".join(dict.fromkeys(ids)) if ok else raw
        elif key in ("sae", "learned_with"):  # learned_with: one more SAE in the learned view's union
            ok = bool(_SAE_RE.match(raw))
        else:
            ok = bool((_NODE_SET_RE if key == "basis" else _ID_RE).match(raw))
        if ok:
            ui[key] = raw
        else:
            bad.append(key)
    return ui, bad


def read_link(query: str | Mapping[str, Any]) -> Link:
    """Lenient: invalid values are dropped (and named in `dropped`); never raises."""
    pairs = _pairs(query)
    dropped = [k for k, v in pairs.items() if len(v) > _MAX_VALUE]
    pairs = {k: v for k, v in pairs.items() if len(v) <= _MAX_VALUE}
    version = _version(pairs)
    config = None
    for _ in range(len(Config.model_fields) + 1):
        try:
            config = Config.model_validate(with_defaults(pairs, version))
            break
        except ValidationError as exc:
            fields = {e.field for e in explain(exc)}
            if not fields & set(pairs) or "config" in fields:
                break  # a cross-field rule with no single culprit: fall back to the preset
            dropped += sorted(fields & set(pairs))
            pairs = {k: v for k, v in pairs.items() if k not in fields}
    if config is None:
        preset = pairs.get("preset") if pairs.get("preset") in LINK_DEFAULTS[version]["presets"] else "post"
        dropped += [k for k in pairs if k in Config.model_fields and k != "preset"]
        config = Config.model_validate(with_defaults({"preset": preset}, version))
    ui, bad = _ui(pairs)
    return Link(config, ui, tuple(dict.fromkeys(dropped + bad)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{round(value, 4):g}"  # 0.5, 0.25, 1: the same text the page writes
    return str(value)


def query_version(config: Config) -> int:
    """The version a state's link is written in: 1 for a version-1 config (every LEGACY value),
    so a shared version-1 link reads back as the very same link; else today's version."""
    return 1 if all(getattr(config, k) == v for k, v in LEGACY.items()) else VERSION


def link_query(config: Config, ui: Mapping[str, Any] | None = None) -> str:
    """The canonical query of a state: v first, only what differs from that version's defaults."""
    version = query_version(config)
    defaults = {**LINK_DEFAULTS[version]["fields"],
                **LINK_DEFAULTS[version]["presets"].get(config.preset, {})}
    params: list[tuple[str, str]] = [("v", str(version))]
    if config.preset != "post":
        params.append(("preset", config.preset))
    params += [(k, _fmt(getattr(config, k))) for k in type(config).model_fields
               if k != "preset" and getattr(config, k) != defaults[k]]
    for key in UI_KEYS:
        value = (ui or {}).get(key)
        if value is None or (key, value) in (("model", "planted"), ("target", "aligned"),
                                                     ("view", "local"), ("input", "dataset"),
                                                     ("learned", FITS[0]), ("seeds", "1")):
            continue
        if key in ("learned", "learned_with") and not (ui or {}).get("sae"):
            continue  # the fit of a learned view that is not shown (as the page writes it)
        params.append((key, ",".join(value) if isinstance(value, list | tuple) else str(value)))
    return urlencode(params)

