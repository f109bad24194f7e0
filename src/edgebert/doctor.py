"""`edgebert doctor`: is this environment able to export and run each target?

Version drift between torch, executorch, litert and coremltools is the most common way
on-device toolchains break, so the pins edgebert was tested with are compared to what is
installed, and each target's export and runtime modules are actually imported.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform
import re
import shutil
import sys
import warnings
from dataclasses import asdict, dataclass, field

from . import __version__
from .assets import DEFAULT_ASSETS
from .errors import EdgebertError

CORE = ["torch", "transformers", "tokenizers", "numpy", "accelerate"]  # + what each target declares


def reported() -> list[str]:
    from .exporters import exporters

    return list(dict.fromkeys(CORE + [lib for e in exporters() for lib in e.libraries]))


TOOLS = {
    "adb": "Android phones (apt install adb)",
    "ssh": "Linux boards over ssh (apt install openssh-client)",
    "scp": "copying artifacts to Linux boards (apt install openssh-client)",
    "chromium": "browser demo and browser device (apt install chromium)",
    "node": "building/testing the web demo (apt install nodejs npm)",
    "g++": "native ExecuTorch runner for this host (apt install g++)",
    "aarch64-linux-gnu-g++": "native runner for arm64 boards (apt install g++-aarch64-linux-gnu)",
}


@dataclass
class PackageStatus:
    name: str
    installed: str | None
    pinned: str | None

    @property
    def ok(self) -> bool:
        return self.installed is not None and (self.pinned is None or self.installed.split("+")[0] == self.pinned)


@dataclass
class TargetStatus:
    target: str
    can_export: bool
    can_run: bool
    detail: str = ""


@dataclass
class DoctorReport:
    edgebert: str
    python: str
    platform: str
    packages: list[PackageStatus] = field(default_factory=list)
    targets: list[TargetStatus] = field(default_factory=list)
    tools: dict[str, str | None] = field(default_factory=dict)
    assets: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return (all(p.ok for p in self.packages) and all(t.can_export for t in self.targets)
                and not any(v.startswith("MISSING") for v in self.assets.values()))

    def to_dict(self) -> dict:
        d = asdict(self)
        for p, pd in zip(self.packages, d["packages"]):
            pd["ok"] = p.ok
        d["healthy"] = self.healthy
        return d


def pinned_versions() -> dict[str, str]:
    """The exact pins from edgebert's own package metadata (single source: pyproject.toml)."""
    pins = {}
    try:
        requires = md.requires("edgebert") or []
    except md.PackageNotFoundError:
        return pins
    for req in requires:
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^;\s]+)\s*$", req)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _try_import(modules: tuple[str, ...]) -> str:
    """Empty string when all import, else the first failure in one line."""
    for mod in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(mod)
        except Exception as exc:  # any failure means "cannot use this target here"
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"{mod}: {msg}"
    return ""


def run_doctor(check_imports: bool = True) -> DoctorReport:
    pins = pinned_versions()
    rep = DoctorReport(__version__, sys.version.split()[0], f"{platform.system()} {platform.machine()}")
    for name in reported():
        rep.packages.append(PackageStatus(name, _version(name), pins.get(name)))
    from .exporters import get_exporter, target_names

    for target in target_names():  # each exporter declares what it needs to export and to run
        ex = get_exporter(target)
        export_err = _try_import(ex.export_modules) if check_imports else ""
        if not ex.can_run_here():
            run_err = f"{target} artifacts run only on {'/'.join(ex.runs_on)}; checked structurally here"
        else:
            run_err = _try_import(ex.runtime_modules) if check_imports else ""
        rep.targets.append(TargetStatus(target, not export_err, not run_err, export_err or run_err))
    rep.tools = {tool: shutil.which(tool) for tool in TOOLS}
    for asset in DEFAULT_ASSETS:
        try:
            rep.assets[asset.description] = str(asset.locate())
        except EdgebertError as exc:
            rep.assets[asset.description] = f"MISSING: {exc.hint}"
    return rep
