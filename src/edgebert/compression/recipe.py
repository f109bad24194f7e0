"""Recipes: a YAML list of stages plus run-wide settings, parsed into typed dataclasses.

Parsing is strict because a typo in a recipe otherwise costs an hour of training with a
default nobody chose: unknown keys, wrong types and bad values each fail with one line
naming the stage and the key, e.g. ``recipe stage 2 (distill): unknown key 'temprature'
(did you mean 'temperature'?)``.

Format (every key optional unless noted; layers and heads are 0-based)::

    seed: 0                 # training randomness (the split follows the teacher's record)
    max_seq_len: 64         # default: what the teacher was trained with, else 128
    batch_size: 32
    checkpoint_every: 200   # steps between resumable checkpoints
    max_train_examples: 2000
    student:                # init: teacher | teacher_layers (layers: [...]) |
      init: teacher_layers  #       checkpoint (path: DIR) | random (num_layers, hidden_size,
      layers: [0, 2, 3, 5]  #       num_heads, intermediate_size)
    stages:                 # run in order; each one's fields are its dataclass in stages.py
      - {type: general_distill, text: corpus.txt, teacher: ENCODER_DIR}   # no labels
      - {type: augment, n: 4, p: 0.4, top_k: 15, method: auto}            # GloVe (+MLM)
      - {type: distill, phase: intermediate, epochs: 3, lr: 1.0e-4}       # emb+hidden+attention
      - {type: distill, phase: prediction, temperature: 1.0, hard: 0.0}   # soft CE (+ gold CE)
      - {type: finetune, epochs: 2}                                       # gold labels only
      - {type: layerdrop, p: 0.2, keep: [0, 1, 2, 4]}   # or select: every_other | greedy
      - {type: select_layers, method: greedy, target_layers: 4}
      - {type: prune_heads, fraction: 0.5, iterations: 2, recover: {phase: prediction}}
      - {type: prune_ffn, fraction: 0.25}

distill weights (embedding, hidden, attention, logits, hard) default from ``phase``;
``layer_map`` is auto (the layers the student was copied from, else uniform), uniform,
last, or a list of teacher layers; ``head_map`` is auto, average or provenance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EdgebertError
from ..yaml_config import build, mapping, read_yaml, shipped_yaml, suggest
from .stage_configs import STAGE_TYPES
from .student import StudentSpec


@dataclass
class Recipe:
    name: str = "custom"
    description: str = ""
    seed: int = 0
    max_seq_len: int | None = None  # default: what the teacher was trained with, else 128
    batch_size: int = 32
    eval_batch_size: int = 64
    # None: the teacher's recorded split (so its dev/test stay unseen), else 0.1 each
    dev_fraction: float | None = None
    test_fraction: float | None = None
    checkpoint_every: int = 200
    max_train_examples: int | None = None
    student: StudentSpec = field(default_factory=StudentSpec)
    stages: list = field(default_factory=list)
    source: str = field(default="", metadata={"internal": True})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("internal")}
        out["student"] = dataclasses.asdict(self.student)
        out["stages"] = [{"type": s.type, **dataclasses.asdict(s)} for s in self.stages]
        return out


def shipped_recipes() -> dict[str, str]:
    return shipped_yaml("edgebert.compression")


def load_recipe(spec: str | Path) -> Recipe:
    """A YAML path, or the name of a shipped recipe (``tinybert-4l``, ``triple``, ``heads-50``)."""
    return parse_recipe(*read_yaml(spec, "edgebert.compression", "recipe"))


def parse_recipe(doc: Any, source: str = "recipe") -> Recipe:
    if not isinstance(doc, dict):
        raise EdgebertError(f"recipe {source} must be a mapping with a 'stages' list", "see the shipped recipes")
    doc = dict(doc)
    stages_doc = doc.pop("stages", None)
    student_doc = doc.pop("student", None)
    recipe = build(Recipe, doc, "recipe", skip={"student", "stages", "source"})
    recipe.source = source
    if student_doc is not None:
        recipe.student = build(StudentSpec, mapping(student_doc, "recipe student"), "recipe student")
    recipe.student.validate()
    if not isinstance(stages_doc, list) or not stages_doc:
        raise EdgebertError("recipe: 'stages' must be a non-empty list", "e.g. stages: [{type: distill}]")
    for i, raw in enumerate(stages_doc, 1):
        where = f"recipe stage {i}"
        raw = mapping(raw, where)
        kind = raw.pop("type", None)
        if kind is None:
            raise EdgebertError(f"{where}: missing 'type'", f"use one of {', '.join(STAGE_TYPES)}")
        if kind not in STAGE_TYPES:
            raise EdgebertError(f"{where}: unknown type '{kind}'{suggest(str(kind), STAGE_TYPES)}",
                                f"use one of {', '.join(STAGE_TYPES)}")
        where = f"{where} ({kind})"
        stage = build(STAGE_TYPES[kind], raw, where)
        stage.validate(where)
        recipe.stages.append(stage)
    _positive_top(recipe)
    return recipe


def _positive_top(r: Recipe) -> None:
    for name in ("batch_size", "eval_batch_size", "checkpoint_every", "max_seq_len", "max_train_examples"):
        v = getattr(r, name)
        if v is not None and v <= 0:
            raise EdgebertError(f"recipe: '{name}' must be positive, got {v}", f"set {name} > 0")
    if r.max_seq_len is not None and r.max_seq_len < 8:
        raise EdgebertError(f"recipe: 'max_seq_len' {r.max_seq_len} is too short", "use at least 8")
    dev, test = r.dev_fraction or DEFAULT_FRACTION, r.test_fraction or DEFAULT_FRACTION
    given = {k: v for k, v in (("dev_fraction", r.dev_fraction), ("test_fraction", r.test_fraction)) if v is not None}
    if any(not 0 < v < 1 for v in given.values()) or dev + test >= 1:
        raise EdgebertError(f"recipe: {', '.join(f'{k} {v}' for k, v in given.items())}: each split needs a "
                            "fraction above 0 (the student is evaluated on dev and test), together below 1",
                            "e.g. 0.1 and 0.1, or omit them to use the teacher's split")


DEFAULT_FRACTION = 0.1
