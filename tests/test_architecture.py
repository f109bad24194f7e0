"""The wings depend only downward, and no import cycle exists (lazy imports inside functions count).

The allowed direction, lowest first (a module may import its own layer and any lower one):

    0 base         errors, fsutil, progress, registry, sources, assets, yaml_config, quiet, comparison
    1 model, data
    2 core         inference, evaluation, teacher_head (the shipped teachers), teacher_outputs, inputs
    3 compression
    4 exporters
    5 demo         serves bundles (the browser device uses it through its public API)
    6 devices
    7 pipeline     `edgebert run`; doctor (checks every wing)
    8 cli          nothing outside edgebert.cli imports it

Private names (``_x``) are not imported across modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"edgebert": ROOT / "src" / "edgebert", "edgebert.exporters": ROOT / "exporters",
                "edgebert.devices": ROOT / "devices"}
LAYERS = [  # the first name of ``edgebert.X`` per layer, lowest first ("" is the package itself)
    ["", "errors", "fsutil", "progress", "registry", "sources", "assets", "yaml_config", "quiet", "comparison"],
    ["model", "data"],
    ["inference", "evaluation", "teacher_head", "teacher_outputs", "inputs"],
    ["compression"],
    ["exporters"],
    ["demo"],
    ["devices"],
    ["pipeline", "doctor"],
    ["cli", "__main__"],
]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def modules() -> dict[str, Path]:
    found = {}
    for pkg, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if pkg == "edgebert" and parts and parts[0] in ("exporters", "devices"):
                continue  # not a folder under src/edgebert
            found[name] = path
    return found


def layer(module: str) -> int:
    head = module.split(".")[1] if module.count(".") else ""
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken, line) for every import in the file, function bodies included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("edgebert")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                mod = ".".join(parent + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("edgebert"):
                out.append((mod, [a.name for a in node.names], node.lineno))
    return out


def resolve(mod: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """``from pkg import submodule`` imports the submodule; anything else imports ``mod`` itself."""
    subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]
    return subs + ([mod] if len(subs) < len(names) or not names else [])


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    for name, path in known.items():
        for mod, names, _ in imports(name, path):
            for target in resolve(mod, names, known):
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != name:
                    edges[name].add(target)
    return edges


def test_every_import_runs_downward():
    known = modules()
    upward = []
    for name, path in known.items():
        for mod, names, line in imports(name, path):
            if layer(mod) > layer(name):
                upward.append(f"{_rel(path)}:{line} (layer {layer(name)}) imports {mod} (layer {layer(mod)})")
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    # a package's __init__ re-exporting its submodules is not a cycle of meaning
    cycles = [c for c in cycles if not all(part.startswith(c.split(" -> ")[0]) for part in c.split(" -> "))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_cli_is_imported_only_by_cli():
    offenders = [f"{_rel(path)}:{line}" for name, path in modules().items()
                 if layer(name) < layer("edgebert.cli")
                 for mod, _, line in imports(name, path) if mod.startswith("edgebert.cli")]
    assert not offenders, offenders


def test_no_private_names_across_modules():
    known = modules()
    offenders = []
    for name, path in known.items():
        for mod, names, line in imports(name, path):
            owner = mod if mod in known else mod.rsplit(".", 1)[0]
            for n in names:
                if n.startswith("_") and not n.startswith("__") and owner != name:
                    offenders.append(f"{_rel(path)}:{line} takes {mod}.{n}")
    assert not offenders, "\n".join(offenders)


def test_the_checker_sees_a_planted_upward_import(tmp_path, monkeypatch):
    """The rules bite: a compression module importing the CLI is caught."""
    fake = tmp_path / "src" / "edgebert"
    (fake / "compression").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "compression" / "__init__.py").write_text("")
    (fake / "compression" / "bad.py").write_text("def f():\n    from ..cli import app\n")
    (fake / "cli.py").write_text("from .compression import bad\n")
    monkeypatch.setitem(PACKAGE_DIRS, "edgebert", fake)
    monkeypatch.setitem(PACKAGE_DIRS, "edgebert.exporters", tmp_path / "none")
    monkeypatch.setitem(PACKAGE_DIRS, "edgebert.devices", tmp_path / "none")
    for check in (test_every_import_runs_downward, test_no_import_cycles, test_cli_is_imported_only_by_cli):
        try:
            check()
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} missed the planted import")
