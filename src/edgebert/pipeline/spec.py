"""The run recipe: what `edgebert run` does, as typed dataclasses parsed strictly from YAML.

A run recipe names the teacher, the data, a compression recipe (shipped name, path, or
inline mapping), the export targets and precisions, and the devices to bench on::

    name: default
    teacher: default            # or a shipped teacher (mpnet-base, minilm-l6) or a checkpoint folder
    data: default               # or a labelled CSV/TSV/JSONL file
    compress:
      recipe: tinybert-4l-trim  # shipped name, YAML path, or an inline recipe mapping
      max_train_examples: 2000
    export:
      targets: [onnx, executorch]
      student_precision: {default: int8, onnx: int8-dynamic}
    bench:
      devices: [host]
      runs: 30

Typos fail with one line naming the key, as compression recipes do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compression.recipe import Recipe, load_recipe, parse_recipe
from ..yaml_config import build, mapping, read_yaml, shipped_yaml, suggest
from ..errors import EdgebertError

def _precisions() -> tuple[str, ...]:
    """What a run recipe's student_precision may say: a Precision value, or none (the float one)."""
    from ..exporters.base import FLOAT, Precision

    return (FLOAT, *(p.value for p in Precision))


@dataclass
class CompressSpec:
    recipe: Any = "tinybert-4l-trim"  # shipped name, YAML path, or inline mapping
    max_train_examples: int | None = None
    max_steps: int | None = None
    seed: int | None = None


@dataclass
class ExportSpec:
    targets: list[str] = field(default_factory=lambda: ["onnx", "executorch"])
    # quantization of the student per target ("default" applies to the rest); the teacher is fp32
    student_precision: dict = field(default_factory=lambda: {"default": "int8", "onnx": "int8-dynamic"})
    seq_len: int | None = None  # default: the teacher's training length
    calib_size: int = 128
    eval_limit: int | None = None  # test examples for the accuracy gates (default: the whole split)
    accuracy_budget: float = 1.0
    teacher: bool = True  # export (and bench) the fp32 teacher alongside

    def precision_for(self, target: str) -> str:
        """The ``--quantize`` value for the student on ``target`` (a float precision means none)."""
        from ..exporters.base import FLOAT, Precision

        q = self.student_precision.get(target, self.student_precision.get("default", "int8"))
        return FLOAT if q == FLOAT or Precision(q).is_float else q


@dataclass
class BenchSpec:
    devices: list[str] = field(default_factory=lambda: ["host"])
    runs: int = 30
    min_seconds: float = 1.0
    warmup: int = 5
    threads: int | None = None
    timeout: float = 600.0


@dataclass
class RunSpec:
    name: str = "default"
    description: str = ""
    teacher: str = "default"
    data: str = "default"
    compress: CompressSpec = field(default_factory=CompressSpec)
    export: ExportSpec = field(default_factory=ExportSpec)
    bench: BenchSpec = field(default_factory=BenchSpec)
    source: str = field(default="", metadata={"internal": True})

    def compression_recipe(self) -> Recipe:
        r = self.compress.recipe
        if isinstance(r, dict):
            return parse_recipe(dict(r), f"{self.source or 'run recipe'} compress.recipe")
        base = Path(self.source).parent if self.source and not self.source.startswith("shipped:") else Path(".")
        candidate = base / str(r)
        return load_recipe(candidate if candidate.is_file() else str(r))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "source"}


def shipped_runs() -> dict[str, str]:
    return shipped_yaml("edgebert.pipeline")


def load_run_spec(spec: str | Path | None = None) -> RunSpec:
    """A run-recipe YAML path or a shipped run name (``default``, ``headline``)."""
    return parse_run_spec(*read_yaml(spec or "default", "edgebert.pipeline", "run recipe"))


def parse_run_spec(doc: Any, source: str = "run recipe") -> RunSpec:
    if not isinstance(doc, dict):
        raise EdgebertError(f"run recipe {source} must be a mapping", "see `edgebert run --help`")
    if "stages" in doc:
        raise EdgebertError(f"{source} is a compression recipe, not a run recipe",
                            f"pass it as `edgebert run --recipe {source}` or under compress: recipe:")
    doc = dict(doc)
    known = [f.name for f in dataclasses.fields(RunSpec) if f.name != "source"]
    for key in doc:
        if key not in known:
            raise EdgebertError(f"run recipe: unknown key '{key}'{suggest(str(key), known)}",
                                f"known keys: {', '.join(sorted(known))}")
    parts = {k: doc.pop(k, None) for k in ("compress", "export", "bench")}
    spec = build(RunSpec, doc, "run recipe", skip={"compress", "export", "bench", "source"})
    spec.source = source
    for key, cls in (("compress", CompressSpec), ("export", ExportSpec), ("bench", BenchSpec)):
        if parts[key] is not None:
            setattr(spec, key, build(cls, mapping(parts[key], f"run recipe {key}"), f"run recipe {key}"))
    validate(spec)
    return spec


def validate(spec: RunSpec) -> RunSpec:
    from ..exporters import get_exporter, target_names

    known = target_names()
    e = spec.export
    if not e.targets:
        raise EdgebertError("run recipe export: 'targets' is empty", f"list one or more of {', '.join(known)}")
    for t in e.targets:
        if t not in known:
            raise EdgebertError(f"run recipe export: unknown target '{t}'", f"use one of {', '.join(known)}")
    for t, q in e.student_precision.items():
        if t != "default" and t not in known:
            raise EdgebertError(f"run recipe export.student_precision: unknown target '{t}'",
                                f"use default or one of {', '.join(known)}")
        if q not in _precisions():
            raise EdgebertError(f"run recipe export.student_precision.{t}: unknown precision '{q}'",
                                f"use one of {', '.join(_precisions())}")
    for t in e.targets:
        q, modes = e.precision_for(t), get_exporter(t).quantize_modes
        if q not in modes:
            raise EdgebertError(f"run recipe export: target {t} has no '{q}' precision",
                                f"set export.student_precision.{t} to one of {', '.join(modes)}")
    for name in ("calib_size",):
        if getattr(e, name) <= 0:
            raise EdgebertError(f"run recipe export: '{name}' must be positive", f"set {name} > 0")
    b = spec.bench
    if b.runs < 1 or b.min_seconds < 0 or b.warmup < 0:
        raise EdgebertError("run recipe bench: runs must be >= 1 and min_seconds, warmup >= 0", "fix the bench section")
    c = spec.compress
    for name in ("max_train_examples", "max_steps"):
        v = getattr(c, name)
        if v is not None and v <= 0:
            raise EdgebertError(f"run recipe compress: '{name}' must be positive, got {v}", f"omit {name} or set it > 0")
    spec.compression_recipe()  # a bad compression recipe fails now, not after the teacher loads
    return spec
