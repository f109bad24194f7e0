"""What one bench session measures: a measurement per artifact, the session's report, and the
plan (teachers first, each once) that every device kind, the browser included, follows."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgebert.comparison import Figures, vs_teacher
from edgebert.exporters.metadata import BundleMetadata

from .runners import format_of


@dataclass
class Measurement:
    name: str
    bundle: str
    role: str  # teacher | candidate
    target: str
    precision: str
    format: str
    size_bytes: int
    accuracy: dict | None  # from the bundle's gates: split, examples, artifact/pytorch accuracy
    teacher: str | None = None  # name of the teacher measurement this one is compared with
    status: str = "pending"  # measured | failed | pending
    runner: str | None = None
    result: dict | None = None  # RunnerResult
    sanity: dict | None = None
    thermal_before: dict = field(default_factory=dict)
    thermal_after: dict = field(default_factory=dict)
    cooldown: dict | None = None
    pinned_cores: list[int] | None = None
    error: str | None = None
    padded_always: bool = False  # static-length artifact: every sentence runs at the maximum length

    def figures(self) -> Figures:
        return Figures(self.size_bytes, (self.accuracy or {}).get("accuracy"), self.p50)

    @property
    def p50(self) -> float | None:
        return (self.result or {}).get("latency_ms", {}).get("p50") if self.result else None

    @property
    def p50_real(self) -> float | None:
        """p50 over real sentences at their own lengths; a static-length artifact pads every one
        to its maximum, so its p50 is that length's."""
        real = (self.result or {}).get("real_lengths")
        if real:
            return real["latency_ms"]["p50"]
        return self.p50 if self.padded_always else None

    @property
    def model_rss_mb(self) -> float | None:
        """What the model costs in memory: the runner's peak RSS less its RSS with the runtime
        imported and nothing loaded (Python, numpy and the runtime library are the rest)."""
        r = self.result or {}
        before = (r.get("extra") or {}).get("rss_before_load_mb")
        return None if before is None or r.get("peak_rss_mb") is None else r["peak_rss_mb"] - before


@dataclass
class BenchReport:
    device: dict
    settings: dict
    measurements: list[Measurement] = field(default_factory=list)
    complete: bool = False
    error: str | None = None
    leftover: str | None = None  # scratch folder left on an unreachable device
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    seconds: float = 0.0

    def by_name(self, name: str | None) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def comparison(self, m: Measurement) -> dict:
        """The candidate against its teacher (:func:`edgebert.comparison.vs_teacher`), where measured."""
        t = self.by_name(m.teacher)
        if t is None or m.role == "teacher":
            return {}
        out = {"teacher": t.name, **vs_teacher(t.figures(), m.figures())}
        if t.p50_real and m.p50_real:
            out["speedup_p50_real_lengths"] = t.p50_real / m.p50_real
        return out

    def to_dict(self) -> dict:
        return {"format": "edgebert-bench", "format_version": 1, "started": self.started, "seconds": self.seconds,
                "complete": self.complete, "error": self.error, "leftover_on_device": self.leftover,
                "device": self.device, "settings": self.settings,
                "measurements": [asdict(m) | {"vs_teacher": self.comparison(m), "p50_ms_real_lengths": m.p50_real,
                                              "model_rss_mb": m.model_rss_mb} for m in self.measurements]}


# --------------------------------------------------------------------------- bundles

def load_bundle(path: Path) -> BundleMetadata:
    """A bundle's metadata, once :func:`run_bench` has verified it."""
    from edgebert.exporters.bundle import read_bundle

    return read_bundle(Path(path))


def _accuracy(meta: dict) -> dict | None:
    acc = meta.accuracy_gate
    if not acc:
        return None
    return {"split": acc.get("split"), "examples": acc.get("examples"), "accuracy": acc.get("artifact_accuracy"),
            "pytorch_accuracy": acc.get("pytorch_accuracy"), "gate_passed": acc.get("passed")}


def _measurement(path: Path, meta: dict, role: str, name: str) -> Measurement:
    art = path / meta.artifact.file
    size = art.stat().st_size if art.is_file() else sum(p.stat().st_size for p in art.rglob("*") if p.is_file())
    return Measurement(name=name, bundle=str(path), role=role, target=meta.target, precision=meta.precision,
                       format=format_of(art), size_bytes=size,
                       accuracy=_accuracy(meta))


def plan(bundles: list[Path], teacher_of: dict[Path, Path]) -> list[Measurement]:
    """Teachers first (each once), then the candidates; a bundle that is a teacher is measured once."""
    metas = {p: load_bundle(p) for p in {*bundles, *teacher_of.values()}}
    plan: dict[Path, Measurement] = {}
    names: set[str] = set()

    def unique(name: str) -> str:
        base, n = name, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        return name

    for t in dict.fromkeys(teacher_of.values()):
        plan[t] = _measurement(t, metas[t], "teacher", unique(f"teacher/{t.name}"))
    every = [*bundles, *dict.fromkeys(teacher_of.values())]
    clash = {b.name for b in bundles if sum(o.name == b.name for o in every) > 1}
    for b in bundles:
        if b not in plan:  # same folder names (teacher/ and student/ exports): say which parent
            plan[b] = _measurement(b, metas[b], "candidate", unique(f"{b.parent.name}/{b.name}" if b.name in clash else b.name))
        if plan[b].role == "candidate":
            plan[b].teacher = plan[teacher_of[b]].name
    return list(plan.values())


