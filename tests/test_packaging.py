"""The package-dir mapping: top-level exporters/ and devices/ live in edgebert's namespace."""

import tomllib
from pathlib import Path

import edgebert

ROOT = Path(__file__).resolve().parents[1]


def test_mapped_namespaces_import_from_top_level_folders():
    import edgebert.devices
    import edgebert.exporters

    assert Path(edgebert.exporters.__file__).parent == ROOT / "exporters"
    assert Path(edgebert.devices.__file__).parent == ROOT / "devices"


def test_every_source_package_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = cfg["package-dir"]
    found = set()
    for pkg, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found == listed, f"add {found - listed} / remove {listed - found} in pyproject.toml"
    assert edgebert.__version__
