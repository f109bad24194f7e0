"""Student initialisation: from chosen teacher layers, another pretrained checkpoint, or random.

Copying teacher layers gives the best start when the student keeps the teacher's width
(the triple-compressed seed kept layers 1,2,3,5 of 6); a smaller pretrained checkpoint is
the route to a narrower student; random init is the baseline the others must beat.
Provenance records where every kept layer and head came from, relative to the original
teacher, so later stages (attention-head maps, exporters' reports) can trace it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, EdgebertError
from ..model import EdgeBertConfig, EdgeBertForSequenceClassification, load_model
from .teacher_model import Teacher

INITS = ("teacher", "teacher_layers", "checkpoint", "random")


@dataclass
class StudentSpec:
    """How to build the student (recipe key ``student``)."""

    init: str = "teacher"  # a full copy: the start for LayerDrop or pruning recipes
    layers: list[int] | None = None  # teacher_layers / checkpoint: 0-based layers to keep, in order
    path: str | None = None  # checkpoint: a model folder, or a shipped encoder's name (minilm-l6)
    num_layers: int | None = None  # random: shape
    hidden_size: int | None = None
    num_heads: int | None = None
    intermediate_size: int | None = None

    def validate(self) -> None:
        where = "recipe student"
        if self.init not in INITS:
            raise EdgebertError(f"{where}: unknown init '{self.init}'", f"use one of {', '.join(INITS)}")
        if self.init == "teacher_layers" and not self.layers:
            raise EdgebertError(f"{where}: init teacher_layers needs 'layers'", "e.g. layers: [0, 1, 2, 4]")
        if self.init == "checkpoint" and not self.path:
            raise EdgebertError(f"{where}: init checkpoint needs 'path'",
                                "give the folder of a smaller pretrained model, or minilm-l6")
        if self.init == "random":
            missing = [k for k in ("num_layers", "hidden_size", "num_heads", "intermediate_size")
                       if getattr(self, k) is None]
            if missing:
                raise EdgebertError(f"{where}: init random needs '{missing[0]}'",
                                    "give num_layers, hidden_size, num_heads and intermediate_size")
        if self.layers is not None and len(set(self.layers)) != len(self.layers):
            raise EdgebertError(f"{where}: 'layers' repeats a layer ({self.layers})", "list each teacher layer once")


def student_depth(spec: StudentSpec, teacher_layers: int, teacher_native: bool) -> int:
    """How many layers the student starts with, checked against the teacher without building it."""
    spec.validate()
    if spec.init in ("teacher", "teacher_layers") and not teacher_native:
        raise EdgebertError(f"student init '{spec.init}' copies teacher weights, but the teacher is a non-BERT "
                            "transformers model", "use init: checkpoint or init: random")
    if spec.init == "teacher":
        return teacher_layers
    if spec.init == "teacher_layers":
        bad = [j for j in spec.layers or [] if not 0 <= j < teacher_layers]
        if bad:
            raise EdgebertError(f"recipe student: layers {spec.layers} name teacher layer {bad[0]}, but the teacher "
                                f"has {teacher_layers} layers (0..{teacher_layers - 1})",
                                "pick a recipe made for this teacher's depth, or set student.layers")
        return len(spec.layers or [])
    if spec.init == "random":
        return int(spec.num_layers or 0)
    n = load_model(checkpoint_dir(spec.path)).num_layers
    bad = [j for j in spec.layers or [] if not 0 <= j < n]
    if bad:
        raise EdgebertError(f"recipe student: layers {spec.layers} name checkpoint layer {bad[0]}, but "
                            f"{spec.path} has {n} layers (0..{n - 1})", "set student.layers within that range")
    return len(spec.layers) if spec.layers else n


def checkpoint_dir(path: str | None) -> Path:
    """A student checkpoint: a shipped encoder's name (unless a folder of that name exists) or a folder."""
    from ..assets import SHIPPED_ENCODERS, shipped_encoder_dir

    p = Path(path or "").expanduser()
    if not p.exists() and str(path) in SHIPPED_ENCODERS:
        return shipped_encoder_dir(str(path))
    return p


def _require_edgebert(teacher: Teacher, what: str) -> EdgeBertForSequenceClassification:
    if not isinstance(teacher.model, EdgeBertForSequenceClassification):
        raise EdgebertError(f"student init '{what}' copies teacher weights, but the teacher is a "
                            f"non-BERT transformers model", "use init: checkpoint or init: random")
    return teacher.model


def copy_layers(model: EdgeBertForSequenceClassification, layers: list[int]) -> EdgeBertForSequenceClassification:
    """A new model with only ``layers`` (in the given order); provenance stays relative to the original."""
    n = model.num_layers
    bad = [j for j in layers if not 0 <= j < n]
    if bad:
        raise EdgebertError(f"layer {bad[0]} does not exist (the model has layers 0..{n - 1})",
                            "use 0-based layer indices")
    if not layers:
        raise EdgebertError("no layers chosen", "keep at least one layer")
    cfg = copy.deepcopy(model.config)
    cfg.layers = [dataclasses.replace(model.config.layers[j]) for j in layers]
    prov = cfg.provenance
    prev_layers = prov.get("kept_layers") or list(range(n))
    prev_heads = prov.get("kept_heads") or [list(range(l.num_heads)) for l in model.config.layers]
    prov["kept_layers"] = [prev_layers[j] for j in layers]
    prov["kept_heads"] = [list(prev_heads[j]) for j in layers]
    if "ffn_widths_before_pruning" in prov:
        prov["ffn_widths_before_pruning"] = [prov["ffn_widths_before_pruning"][j] for j in layers]
    new = EdgeBertForSequenceClassification(cfg)
    if cfg.shared_layers:  # one set of weights: keeping layers is keeping depth
        new.load_state_dict({k: v.clone() for k, v in model.state_dict().items()}, strict=True)
        return new
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("encoder.layer."):
            idx, rest = key[len("encoder.layer."):].split(".", 1)
            if int(idx) in layers:
                state[f"encoder.layer.{layers.index(int(idx))}.{rest}"] = value.clone()
        else:
            state[key] = value.clone()
    new.load_state_dict(state, strict=True)
    return new


def init_student(spec: StudentSpec, teacher: Teacher, seed: int = 0) -> tuple[EdgeBertForSequenceClassification, Path]:
    """Build the student; returns it with the folder whose tokenizer it uses."""
    spec.validate()
    torch.manual_seed(seed)
    if spec.init == "teacher":
        model = copy.deepcopy(_require_edgebert(teacher, "teacher"))
        init = {"method": "teacher", "teacher": str(teacher.path)}
        tok_dir = teacher.path
    elif spec.init == "teacher_layers":
        model = copy_layers(_require_edgebert(teacher, "teacher_layers"), list(spec.layers or []))
        init = {"method": "teacher_layers", "teacher": str(teacher.path), "layers": list(spec.layers or [])}
        tok_dir = teacher.path
    elif spec.init == "checkpoint":
        path = checkpoint_dir(spec.path)
        model = load_model(path, label_names=teacher.label_names, pooling=_pooling(teacher))
        if spec.layers:
            model = copy_layers(model, list(spec.layers))
        if model.config.num_labels != len(teacher.label_names):
            raise CheckpointError(f"student checkpoint {path} has {model.config.num_labels} outputs but the teacher "
                                  f"has {len(teacher.label_names)}", "use a plain encoder or a matching head")
        model.config.label_names = list(teacher.label_names)
        init = {"method": "checkpoint", "path": str(path.resolve()), **({"layers": list(spec.layers)} if spec.layers
                                                                          else {})}
        tok_dir = path
    else:
        model = _random_student(spec, teacher)
        init = {"method": "random"}
        tok_dir = teacher.path
    for p in model.parameters():
        p.requires_grad_(True)
    prov = model.config.provenance
    prov["student_init"] = init
    prov["teacher"] = str(teacher.path)
    prov.setdefault("kept_layers", list(range(model.num_layers)))
    prov.setdefault("kept_heads", [list(range(l.num_heads)) for l in model.config.layers])
    return model.train(), tok_dir


def _pooling(teacher: Teacher) -> str:
    cfg = teacher.model.config
    return cfg.pooling if isinstance(cfg, EdgeBertConfig) else "cls"


def _random_student(spec: StudentSpec, teacher: Teacher) -> EdgeBertForSequenceClassification:
    tcfg = teacher.model.config
    if isinstance(tcfg, EdgeBertConfig):
        extra = {k: getattr(tcfg, k) for k in ("max_position_embeddings", "type_vocab_size", "layer_norm_eps",
                                               "hidden_act", "pad_token_id", "pooling")}
        vocab = tcfg.vocab_size
    else:
        extra = {"max_position_embeddings": min(512, int(getattr(tcfg, "max_position_embeddings", 512))),
                 "pad_token_id": int(getattr(tcfg, "pad_token_id", 0) or 0)}
        vocab = int(tcfg.vocab_size)
    try:
        cfg = EdgeBertConfig.uniform(vocab_size=vocab, hidden_size=int(spec.hidden_size),
                                     num_layers=int(spec.num_layers), num_heads=int(spec.num_heads),
                                     intermediate_size=int(spec.intermediate_size),
                                     num_labels=len(teacher.label_names), label_names=list(teacher.label_names),
                                     **extra)
    except CheckpointError as exc:
        raise EdgebertError(f"recipe student: {exc.message}", exc.hint) from None
    cfg.provenance = {"source": "random", "trained_head": True}
    return EdgeBertForSequenceClassification(cfg)
