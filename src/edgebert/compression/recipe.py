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
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import EdgebertError
from .stages import NESTED, STAGE_TYPES
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


def shipped_yaml(package: str) -> dict[str, str]:
    """Name -> its whole description as one line, for the YAML files in ``package``/recipes."""
    folder = resources.files(package) / "recipes"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            doc = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            out[entry.name[:-5]] = " ".join(str(doc.get("description") or "").split())
    return out


def read_yaml(spec: str | Path, package: str, kind: str) -> tuple[Any, str]:
    """(document, source) from a YAML path or the name of a file shipped in ``package``/recipes."""
    path = Path(spec).expanduser()
    if path.is_file():
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise EdgebertError(f"{kind} {path} is not UTF-8 text (byte {exc.start})", f"save the {kind} as UTF-8") \
                from None
        except OSError as exc:
            raise EdgebertError(f"cannot read {kind} {path}: {exc.strerror}", f"check the {kind} path") from None
    else:
        name = str(spec)[:-5] if str(spec).endswith(".yaml") else str(spec)
        entry = resources.files(package) / "recipes" / f"{name}.yaml"
        if "/" in name or not entry.is_file():
            raise EdgebertError(f"{kind} '{spec}' is neither a file nor a shipped {kind}",
                                f"pass a YAML path or one of: {', '.join(shipped_yaml(package))}")
        text, source = entry.read_text(encoding="utf-8"), f"shipped:{name}"
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise EdgebertError(f"{kind} {source} is not valid YAML{where}", "check indentation and colons") from None


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
        recipe.student = build(StudentSpec, _mapping(student_doc, "recipe student"), "recipe student")
    recipe.student.validate()
    if not isinstance(stages_doc, list) or not stages_doc:
        raise EdgebertError("recipe: 'stages' must be a non-empty list", "e.g. stages: [{type: distill}]")
    for i, raw in enumerate(stages_doc, 1):
        where = f"recipe stage {i}"
        raw = _mapping(raw, where)
        kind = raw.pop("type", None)
        if kind is None:
            raise EdgebertError(f"{where}: missing 'type'", f"use one of {', '.join(STAGE_TYPES)}")
        if kind not in STAGE_TYPES:
            raise EdgebertError(f"{where}: unknown type '{kind}'{_suggest(str(kind), STAGE_TYPES)}",
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


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise EdgebertError(f"{where} must be a mapping of key: value, got {type(value).__name__}",
                            "indent its keys under it")
    return dict(value)


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build(cls, raw: dict, where: str, skip: set[str] | frozenset = frozenset()):
    """Instantiate dataclass ``cls`` from ``raw``, checking every key and value type."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in skip}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise EdgebertError(f"{where}: unknown key '{key}'{_suggest(str(key), fields)}",
                                f"known keys: {', '.join(sorted(fields))}")
        if key in NESTED and cls is not NESTED[key] and value is not None:
            nested_where = f"{where} {key}"
            nested = build(NESTED[key], _mapping(value, nested_where), nested_where)
            kwargs[key] = nested
            continue
        kwargs[key] = _check(value, hints[key], where, key)
    return cls(**kwargs)


def _type_name(hint) -> str:
    names = {int: "an integer", float: "a number", bool: "true/false", str: "a string", dict: "a mapping"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        return f"a list of {_type_name(arg).split(' ', 1)[-1]}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    return getattr(hint, "__name__", str(hint))


def _check(value: Any, hint, where: str, key: str):
    ok, converted = _coerce(value, hint)
    if not ok:
        raise EdgebertError(f"{where}: '{key}' must be {_type_name(hint)}, got {value!r}",
                            f"fix '{key}' in the recipe")
    return converted


def _coerce(value: Any, hint) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return True, None
                continue
            ok, v = _coerce(value, arg)
            if ok:
                return True, v
        return False, None
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            return False, None
        out = []
        for item in value:
            ok, v = _coerce(item, arg)
            if not ok:
                return False, None
            out.append(v)
        return True, out
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, (int, float)):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-5" as a string
            try:
                return True, float(value)
            except ValueError:
                return False, None
        return False, None
    if hint is str:
        return isinstance(value, str), value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return False, None
    if hint is dict or origin is dict:
        return isinstance(value, dict), value
    return isinstance(value, hint), value
