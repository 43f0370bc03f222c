"""The package's import graph: layers point one way, there is no cycle, and imports sit at the top
of each module (the only lazy imports are of torch, or of modules that import torch, so that the
web server starts without it).

Layers, lowest first. A module may import its own layer and any lower one, never a higher one:
config/cache <- core <- dictionaries <- decomposition <- jobs <- share <- web <- cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "backend" / "basisgraph"
LAYERS = ["config", "cache", "fmt", "core", "dictionaries", "decomposition", "jobs", "share", "web", "cli"]
RANK = {"config": 0, "cache": 0, "fmt": 0, "core": 1, "dictionaries": 2, "decomposition": 3, "jobs": 4,
        "share": 5, "web": 6, "cli": 7}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PKG.rglob("*.py"))}


def _imports(tree: ast.Module, top_only: bool) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every basisgraph/torch import."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_func: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_func or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_func) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                if child.module == "basisgraph" or child.module.startswith("basisgraph."):
                    # `from basisgraph.jobs import sae` imports the submodule basisgraph.jobs.sae
                    found.extend((f"{child.module}.{a.name}", child.lineno, in_func) for a in child.names)
                else:
                    found.append((child.module, child.lineno, in_func))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only: never imported at run time
            if not (top_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)):
                visit(child, nested)

    visit(tree, False)
    return found


def _resolve(name: str, known: set[str]) -> str | None:
    """The basisgraph module an import names (a `from x import name` may name a function)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


MODULES = _modules()
KNOWN = set(MODULES)


def _torch_modules() -> set[str]:
    """Modules that load torch when imported: directly, or through a module they import at the top."""
    top = {m: [n for n, _, f in _imports(t, True) if not f] for m, t in MODULES.items()}
    heavy = {m for m, names in top.items() if any(n == "torch" or n.startswith("torch.") for n in names)}
    grew = True
    while grew:
        grew = False
        for m, names in top.items():
            if m not in heavy and any(_resolve(n, KNOWN) in heavy for n in names if n.startswith("basisgraph")):
                heavy.add(m)
                grew = True
    return heavy


TORCH_MODULES = _torch_modules()


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, tree in MODULES.items():
        for name, _, _ in _imports(tree, False):
            target = _resolve(name, KNOWN) if name.startswith("basisgraph") else None
            if target and target != mod and target != "basisgraph":
                graph[mod].add(target)
    return graph


def test_no_import_from_a_higher_layer():
    bad = []
    for mod, targets in _edges().items():
        for target in targets:
            lo, hi = _layer(mod), _layer(target)
            if lo and hi and RANK[hi] > RANK[lo]:
                bad.append(f"{mod} -> {target}")
    assert not bad, "imports that point up the layers:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    graph = _edges()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [node, nxt]) if nxt in stack
                              else f"{node} -> {nxt}")
            elif nxt not in state:
                dfs(nxt, stack + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_at_the_top_except_torch():
    """Inside a function, only torch or a module that imports torch may be imported (lazily, so
    the web server and the core start without torch)."""
    bad = []
    for mod, tree in MODULES.items():
        for name, line, in_func in _imports(tree, False):
            if not in_func:
                continue
            target = _resolve(name, KNOWN) if name.startswith("basisgraph") else None
            if name == "torch" or name.startswith("torch.") or target in TORCH_MODULES:
                continue
            bad.append(f"{mod}:{line} imports {name}")
    assert not bad, "imports inside functions:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", ["config", "core", "share", "web"])
def test_layers_that_never_load_torch(layer):
    """The core, sharing and web layers import no torch module at the top, so the server starts
    without paying for torch."""
    mods = [m for m in MODULES if _layer(m) == layer]
    assert mods
    assert not [m for m in mods if m in TORCH_MODULES]


def test_cli_is_imported_by_nothing():
    bad = [f"{m} -> {t}" for m, ts in _edges().items() for t in ts
           if _layer(t) == "cli" and _layer(m) != "cli"]
    assert not bad, bad
