"""Typed stage configs (one dataclass per recipe ``type``) and the runners that execute them.

A runner takes the current student and returns the next one plus a dict for the report.
Anything a stage trains goes through :func:`trainer.train`, so every stage checkpoints
and resumes the same way. Field defaults follow the papers where they fit a CPU budget
(TinyBERT: T=1, p=0.4, K=15; LayerDrop: p=0.2); recipes override them.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..data import Columns, load_labelled
from ..data.examples import Example
from ..errors import DataError, EdgebertError
from ..model import EdgeBertForSequenceClassification, load_checkpoint, save_checkpoint
from ..fsutil import atomic_write_json
from . import augment as aug
from .context import Context, TrainSet
from .distill import DistillWrapper, LossWeights, Objective
from .ffn_pruning import choose_neurons, ffn_importance, prune_ffn
from .head_pruning import choose_heads, head_importance, heads_to_prune, prune_heads
from .layer_selection import every_other, greedy_selection, select_layers
from .layerdrop import layer_keep_mask
from .losses import LAYER_MAPS, hard_cross_entropy, resolve_layer_map, soft_cross_entropy
from .teachers import Teacher, load_teacher, same_tokenizer
from .trainer import (TrainSpec, batch_indices, is_main_process, make_accelerator, mix_seed, total_steps, train,
                      wait_for_everyone)

PHASES = ("intermediate", "prediction", "both")
HEAD_MAPS = ("auto", "average", "provenance")
PHASE_WEIGHTS = {
    "intermediate": LossWeights(embedding=1.0, hidden=1.0, attention=1.0),
    "prediction": LossWeights(logits=1.0),
    "both": LossWeights(embedding=1.0, hidden=1.0, attention=1.0, logits=1.0),
}


def _bad(where: str, message: str, hint: str) -> EdgebertError:
    return EdgebertError(f"{where}: {message}", hint)


def _positive(where: str, **values: Any) -> None:
    for name, v in values.items():
        if v is not None and v <= 0:
            raise _bad(where, f"'{name}' must be positive, got {v}", f"set {name} > 0")


def _fraction(where: str, name: str, v: float | None, *, closed: bool = False) -> None:
    if v is not None and not (0 <= v <= 1 if closed else 0 < v < 1):
        raise _bad(where, f"'{name}' must be in {'[0, 1]' if closed else '(0, 1)'}, got {v}", f"pick a fraction for {name}")


@dataclass
class TrainingFields:
    """Optimisation settings shared by every stage that trains."""

    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    batch_size: int | None = None

    def check_training(self, where: str) -> None:
        _positive(where, epochs=self.epochs, max_steps=self.max_steps, lr=self.lr, batch_size=self.batch_size)
        _fraction(where, "warmup", self.warmup, closed=True)
        if self.weight_decay < 0:
            raise _bad(where, f"'weight_decay' must be >= 0, got {self.weight_decay}", "use 0 to disable it")


@dataclass
class DistillStage(TrainingFields):
    """TinyBERT task distillation; ``phase`` picks default loss weights, each overridable."""

    type: ClassVar[str] = "distill"
    phase: str = "prediction"
    temperature: float = 1.0
    embedding: float | None = None
    hidden: float | None = None
    attention: float | None = None
    logits: float | None = None
    hard: float | None = None
    layer_map: str | list[int] = "auto"
    head_map: str = "auto"
    use_augmented: bool = True

    def validate(self, where: str) -> None:
        self.check_training(where)
        if self.phase not in PHASES:
            raise _bad(where, f"unknown phase '{self.phase}'", f"use one of {', '.join(PHASES)}")
        if isinstance(self.layer_map, str) and self.layer_map not in LAYER_MAPS:
            raise _bad(where, f"unknown layer_map '{self.layer_map}'", f"use {', '.join(LAYER_MAPS)} or a list")
        if self.head_map not in HEAD_MAPS:
            raise _bad(where, f"unknown head_map '{self.head_map}'", f"use one of {', '.join(HEAD_MAPS)}")
        _positive(where, temperature=self.temperature)
        w = self.weights()
        for name, v in asdict(w).items():
            if v < 0:
                raise _bad(where, f"loss weight '{name}' is negative", "use 0 to switch a loss off")
        if not any(asdict(w).values()):
            raise _bad(where, "every loss weight is 0", "give at least one loss a positive weight")

    def weights(self) -> LossWeights:
        base = PHASE_WEIGHTS[self.phase] if self.phase in PHASE_WEIGHTS else LossWeights()
        return LossWeights(**{k: (getattr(self, k) if getattr(self, k) is not None else v)
                              for k, v in asdict(base).items()})


@dataclass
class FinetuneStage(TrainingFields):
    """Gold labels only (the ablation's 'hard-label training' row); augmented text is never used."""

    type: ClassVar[str] = "finetune"

    def validate(self, where: str) -> None:
        self.check_training(where)

    def as_distill(self) -> DistillStage:
        return DistillStage(epochs=self.epochs, max_steps=self.max_steps, lr=self.lr, weight_decay=self.weight_decay,
                            warmup=self.warmup, batch_size=self.batch_size, logits=0.0, hard=1.0,
                            use_augmented=False)


@dataclass
class GeneralDistillStage(TrainingFields):
    """Task-agnostic distillation on unlabelled text: intermediate losses only, no labels."""

    type: ClassVar[str] = "general_distill"
    text: str | None = None  # .txt (one text per line) or a table; default: the task's training texts
    text_column: str | None = None
    teacher: str | None = None  # e.g. the pretrained encoder; default: the task teacher
    max_examples: int | None = None
    embedding: float = 1.0
    hidden: float = 1.0
    attention: float = 1.0
    layer_map: str | list[int] = "auto"
    head_map: str = "auto"

    def validate(self, where: str) -> None:
        self.check_training(where)
        _positive(where, max_examples=self.max_examples)
        if min(self.embedding, self.hidden, self.attention) < 0 or not (self.embedding or self.hidden or self.attention):
            raise _bad(where, "embedding/hidden/attention weights must be >= 0 and not all 0", "e.g. hidden: 1")
        if isinstance(self.layer_map, str) and self.layer_map not in LAYER_MAPS:
            raise _bad(where, f"unknown layer_map '{self.layer_map}'", f"use {', '.join(LAYER_MAPS)} or a list")
        if self.head_map not in HEAD_MAPS:
            raise _bad(where, f"unknown head_map '{self.head_map}'", f"use one of {', '.join(HEAD_MAPS)}")


@dataclass
class AugmentStage:
    """TinyBERT augmentation; later distill stages train on the copies (teacher labels only)."""

    type: ClassVar[str] = "augment"
    n: int = 4
    p: float = 0.4
    top_k: int = 15
    method: str = "auto"
    vocab_limit: int = 100_000
    mlm_model: str | None = None
    max_examples: int | None = None

    def validate(self, where: str) -> None:
        _positive(where, n=self.n, top_k=self.top_k, vocab_limit=self.vocab_limit, max_examples=self.max_examples)
        _fraction(where, "p", self.p)
        if self.method not in aug.METHODS:
            raise _bad(where, f"unknown method '{self.method}'", f"use one of {', '.join(aug.METHODS)}")


@dataclass
class TrimVocabStage:
    """Keep only the WordPiece tokens the training text uses (+ specials, single characters)."""

    type: ClassVar[str] = "trim_vocab"
    min_frequency: int = 1
    keep_single_chars: bool = True
    use_augmented: bool = True  # count tokens in augmented copies too (they are training text)
    full_train_split: bool = True  # count on the whole train split, not only max_train_examples of it
    keep_untrimmed: bool = False  # also save the student before trimming, beside OUT (OUT-untrimmed), to compare

    def validate(self, where: str) -> None:
        _positive(where, min_frequency=self.min_frequency)


@dataclass
class LayerDropStage(TrainingFields):
    """Train with whole layers dropped at rate p (logit KD), then optionally select layers."""

    type: ClassVar[str] = "layerdrop"
    p: float = 0.2
    temperature: float = 1.0
    logits: float = 1.0
    hard: float = 0.0
    use_augmented: bool = True
    keep: list[int] | None = None
    select: str | None = None  # every_other | greedy
    target_layers: int | None = None
    greedy_examples: int | None = None

    def validate(self, where: str) -> None:
        self.check_training(where)
        _fraction(where, "p", self.p, closed=True)
        if self.p >= 1:
            raise _bad(where, "'p' must be below 1", "p is the chance of dropping each layer, e.g. 0.2")
        _positive(where, temperature=self.temperature)
        if self.logits < 0 or self.hard < 0 or not (self.logits or self.hard):
            raise _bad(where, "'logits' and 'hard' must be >= 0 and not both 0", "e.g. logits: 1")
        _check_selection(where, "keep" if self.keep is not None else self.select, self.keep, self.target_layers,
                         self.greedy_examples, optional=True)
        if self.keep is not None and self.select is not None:
            raise _bad(where, "give either 'keep' or 'select', not both", "keep lists layers; select picks a rule")


@dataclass
class SelectLayersStage:
    type: ClassVar[str] = "select_layers"
    method: str = "keep"
    keep: list[int] | None = None
    target_layers: int | None = None
    greedy_examples: int | None = None

    def validate(self, where: str) -> None:
        _check_selection(where, self.method, self.keep, self.target_layers, self.greedy_examples, optional=False)


def _check_selection(where, method, keep, target, greedy_examples, optional: bool) -> None:
    if method is None and optional:
        return
    if method not in ("keep", "every_other", "greedy"):
        raise _bad(where, f"unknown layer selection '{method}'", "use keep, every_other or greedy")
    if method == "keep":
        if not keep:
            raise _bad(where, "selection 'keep' needs a non-empty 'keep' list", "e.g. keep: [0, 1, 2, 4]")
        if sorted(set(keep)) != list(keep) or min(keep) < 0:
            raise _bad(where, f"'keep' must list increasing 0-based layers, got {keep}", "e.g. keep: [0, 1, 2, 4]")
    if method == "greedy" and not target_layers_ok(target):
        raise _bad(where, "greedy selection needs 'target_layers' >= 1", "e.g. target_layers: 4")
    _positive(where, greedy_examples=greedy_examples)


def target_layers_ok(target: int | None) -> bool:
    return target is not None and target >= 1


@dataclass
class PruneStage:
    """Shared by head and FFN pruning: how much, importance sample, iterations, recovery."""

    fraction: float | None = None
    iterations: int = 1
    importance_examples: int = 512
    importance_loss: str = "kd"  # kd (teacher soft labels) | hard (gold labels)
    normalize: bool = True
    batch_size: int | None = None
    recover: DistillStage | None = None

    def check_prune(self, where: str) -> None:
        _fraction(where, "fraction", self.fraction)
        _positive(where, iterations=self.iterations, importance_examples=self.importance_examples,
                  batch_size=self.batch_size)
        if self.importance_loss not in ("kd", "hard"):
            raise _bad(where, f"unknown importance_loss '{self.importance_loss}'", "use kd or hard")
        if self.recover is not None:
            self.recover.validate(f"{where} recover")


@dataclass
class PruneHeadsStage(PruneStage):
    type: ClassVar[str] = "prune_heads"
    target_heads: int | None = None  # total heads to keep (alternative to fraction)
    min_heads_per_layer: int = 1

    def validate(self, where: str) -> None:
        self.check_prune(where)
        if (self.fraction is None) == (self.target_heads is None):
            raise _bad(where, "give exactly one of 'fraction' and 'target_heads'", "e.g. fraction: 0.5")
        _positive(where, target_heads=self.target_heads, min_heads_per_layer=self.min_heads_per_layer)


@dataclass
class PruneFfnStage(PruneStage):
    type: ClassVar[str] = "prune_ffn"

    def validate(self, where: str) -> None:
        self.check_prune(where)
        if self.fraction is None:
            raise _bad(where, "'fraction' is required", "e.g. fraction: 0.3 removes 30% of FFN neurons")


STAGE_TYPES: dict[str, type] = {c.type: c for c in (DistillStage, FinetuneStage, GeneralDistillStage, AugmentStage,
                                                   LayerDropStage, SelectLayersStage, PruneHeadsStage, PruneFfnStage,
                                                   TrimVocabStage)}
NESTED = {"recover": DistillStage}


# ---------------------------------------------------------------------------- runners

@dataclass
class StageRun:
    """What a runner needs besides the config and the student."""

    ctx: Context
    work: Path
    seed: int
    label: str  # e.g. "stage 2/4 distill"
    extra: dict = field(default_factory=dict)


def _from_teacher(student: EdgeBertForSequenceClassification, teacher: Teacher) -> bool:
    init = student.config.provenance.get("student_init", {})
    return init.get("method") in ("teacher", "teacher_layers") and init.get("teacher") == str(teacher.path)


def _provenance_layers(student, teacher: Teacher) -> list[int] | None:
    """The teacher layers the student's layers were copied from, in the teacher's numbering."""
    if not _from_teacher(student, teacher):
        return None
    s = student.config.provenance.get("kept_layers")
    t = getattr(teacher.model.config, "provenance", {}).get("kept_layers") or list(range(teacher.num_layers))
    if not s or any(l not in t for l in s):
        return None
    return [t.index(l) for l in s]


def _head_maps(student, teacher: Teacher, pairs, mode: str) -> dict[int, list[int] | None]:
    maps: dict[int, list[int] | None] = {}
    kept = student.config.provenance.get("kept_heads") or []
    t_heads = teacher.heads
    for i, j in pairs:
        hs = student.config.layers[i].num_heads
        if hs == t_heads[j]:
            maps[i] = None
        elif mode != "average" and _from_teacher(student, teacher) and i < len(kept) and len(kept[i]) == hs \
                and max(kept[i]) < t_heads[j]:
            maps[i] = list(kept[i])
        elif mode == "provenance":
            raise EdgebertError(f"head_map 'provenance': student layer {i} has no teacher head ids",
                                "use head_map: average")
        else:
            maps[i] = None
    return maps


def fit(student, run: StageRun, cfg: TrainingFields, *, weights: LossWeights, temperature: float = 1.0,
        layer_map: str | list[int] = "auto", head_map: str = "auto", data: TrainSet, teacher: Teacher | None = None,
        layerdrop: float = 0.0, description: str = ""):
    """Train ``student`` on ``data`` against ``teacher`` with ``weights``; returns (student, report info)."""
    ctx = run.ctx
    teacher = teacher or ctx.teacher
    if weights.attention and not teacher.has_scores:
        weights.attention = 0.0
        ctx.note(f"attention loss disabled: teacher {teacher.path.name} is a transformers model whose attentions "
                 "are post-softmax; TinyBERT's loss needs pre-softmax scores (edgebert/BERT teachers have them)")
        if not any(asdict(weights).values()):
            raise EdgebertError(f"{run.label}: only the attention loss was enabled and it is unavailable",
                                "add hidden or logits weights")
    if weights.needs_features and not ctx.shared_tokens:
        raise EdgebertError(f"{run.label}: intermediate losses need the student to use the teacher's tokenizer",
                            "use logit distillation only (phase: prediction) or a student with the teacher's vocabulary")
    pairs = resolve_layer_map(layer_map, student.num_layers, teacher.num_layers, _provenance_layers(student, teacher))
    objective = Objective(weights, temperature, pairs, _head_maps(student, teacher, pairs, head_map)
                          if weights.attention else None)
    torch.manual_seed(mix_seed(run.seed, 99))  # the projection's initial weights
    wrapper = DistillWrapper(student, teacher.hidden_size if weights.needs_hidden else None)
    acc = make_accelerator()
    teacher.model.to(acc.device)
    soft = ctx.teacher_logits(data) if weights.logits and not weights.needs_features else None
    bs = cfg.batch_size or ctx.batch_size
    steps = total_steps(len(data), bs, cfg.epochs, _min(cfg.max_steps, ctx.max_steps))
    rank, world = acc.process_index, acc.num_processes
    need_scores = bool(weights.attention)
    lengths = data.lengths

    def step_fn(module, step: int):
        idx = batch_indices(len(data), bs, run.seed, step, rank=rank, world=world, lengths=lengths)
        b = data.batch(idx, acc.device)
        keep = layer_keep_mask(student.num_layers, layerdrop, run.seed, step) if layerdrop else None
        logits, hidden, scores = module(**b, hidden=weights.needs_hidden, scores=need_scores, layer_keep=keep)
        t_out, t_logits = None, None
        if weights.needs_features:
            with torch.no_grad():
                t_out = teacher.model.forward_features(**data.batch(idx, acc.device, "teacher"),
                                                       output_hidden_states=weights.needs_hidden,
                                                       output_attention_scores=need_scores)
            t_logits = t_out.logits
        elif soft is not None:
            t_logits = soft[idx].to(acc.device)
        return objective(logits, hidden, scores, t_out, t_logits, b["attention_mask"], data.labels[idx].to(acc.device))

    spec = TrainSpec(description or run.label, steps, cfg.lr, run.work, seed=run.seed, weight_decay=cfg.weight_decay,
                     warmup=cfg.warmup, checkpoint_every=ctx.checkpoint_every)
    module, result = train(wrapper, step_fn, spec, acc)
    info = {"steps": result.steps, "train_examples": len(data), "batch_size": bs, "layer_map": [list(p) for p in pairs],
            "weights": asdict(weights), "losses": result.summary(), "train_seconds": result.seconds}
    if result.resumed_from is not None:
        info["resumed_from_step"] = result.resumed_from
    return module.student, info


def _min(a: int | None, b: int | None) -> int | None:
    vals = [v for v in (a, b) if v]
    return min(vals) if vals else None


def run_distill(cfg: DistillStage, student, run: StageRun):
    data = run.ctx.train_set(cfg.use_augmented)
    return fit(student, run, cfg, weights=cfg.weights(), temperature=cfg.temperature, layer_map=cfg.layer_map,
               head_map=cfg.head_map, data=data)


def run_finetune(cfg: FinetuneStage, student, run: StageRun):
    return run_distill(cfg.as_distill(), student, run)


def _read_texts(cfg: GeneralDistillStage) -> list[Example]:
    path = Path(cfg.text).expanduser()
    if path.suffix.lower() == ".txt":
        if not path.exists():
            raise DataError(f"general_distill text file {path} does not exist", "give a .txt file, one text per line")
        return [Example(line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = load_labelled(path, Columns(text=cfg.text_column), require_labels=False)
    return [Example(e.text, None, e.text_pair) for e in data.examples]


def run_general_distill(cfg: GeneralDistillStage, student, run: StageRun):
    ctx = run.ctx
    if cfg.text:
        texts = _read_texts(cfg)
    else:
        texts = [Example(e.text, None, e.text_pair) for e in ctx.train + ctx.augmented]
    if cfg.max_examples and len(texts) > cfg.max_examples:
        texts = random.Random(run.seed).sample(texts, cfg.max_examples)
    if not texts:
        raise DataError("general_distill has no text to learn from", "check the 'text' file")
    teacher = ctx.teacher
    if cfg.teacher:
        teacher = load_teacher(cfg.teacher, require_head=False)
        from ..data import load_tokenizer

        if not same_tokenizer(load_tokenizer(teacher.path), ctx.tokenizer):
            raise EdgebertError(f"general_distill teacher {cfg.teacher} uses a different tokenizer than the student",
                                "use a teacher with the same vocabulary")
    data = ctx.train_set(examples=texts)
    weights = LossWeights(embedding=cfg.embedding, hidden=cfg.hidden, attention=cfg.attention)
    student, info = fit(student, run, cfg, weights=weights, layer_map=cfg.layer_map, head_map=cfg.head_map,
                        data=data, teacher=teacher)
    info["teacher"] = str(teacher.path)
    return student, info


def run_augment(cfg: AugmentStage, student, run: StageRun):
    ctx = run.ctx
    source = ctx.train
    if cfg.max_examples and len(source) > cfg.max_examples:
        source = random.Random(run.seed).sample(source, cfg.max_examples)
    mlm_dir = Path(cfg.mlm_model).expanduser() if cfg.mlm_model else ctx.teacher.path
    method, note = aug.resolve_method(cfg.method, mlm_dir)
    if note:
        ctx.note(note)
    key = aug.cache_key(source, run.seed, cfg.n, cfg.p, cfg.top_k, method,
                        f"{cfg.vocab_limit}:{mlm_dir if 'mlm' in method else ''}")
    examples = aug.load_cached(key)
    cached = examples is not None
    if examples is None:
        mlm = aug.MaskedLM(mlm_dir, ctx.tokenizer) if "mlm" in method else None
        augmenter = aug.Augmenter(aug.GloveNeighbours.packaged(cfg.vocab_limit), mlm, cfg.n, cfg.p, cfg.top_k)
        examples = augmenter.augment(source, run.seed)
        if is_main_process():
            aug.store_cached(key, examples)
    if is_main_process():
        aug.write_examples(run.work / "augmented.jsonl", examples)
    wait_for_everyone()
    ctx.augmented = examples
    return student, {"method": method, "source_examples": len(source), "augmented_examples": len(examples),
                     "cached": cached, "cache_key": key, "mlm_available": "mlm" in method}


def run_trim_vocab(cfg: TrimVocabStage, student, run: StageRun):
    """Trim the student's vocabulary; writes the new tokenizer to ``work/tokenizer`` for compress()."""
    from ..model.checkpoint import tensor_bytes
    from .context import logits_of
    from .vocab_trim import fully_seen, trim, unseen_rate

    ctx = run.ctx
    base = run.extra.get("train_all") if cfg.full_train_split and run.extra.get("train_all") else ctx.train
    examples = base + (ctx.augmented if cfg.use_augmented else [])
    before = {"vocab": student.config.vocab_size, "parameters": student.num_parameters(),
              "bytes": tensor_bytes(student)}
    dev_enc = ctx.dev_encoded()
    logits_before = logits_of(student, dev_enc, ctx.eval_batch_size)
    old_tok = ctx.tokenizer
    if cfg.keep_untrimmed and is_main_process():
        out = ctx.work.parent
        save_checkpoint(student, out.parent / f"{out.name}-untrimmed", tokenizer_from=ctx.tokenizer_dir)
    result = trim(student, old_tok, ctx.tokenizer_dir, examples, run.work / "tokenizer", cfg.min_frequency,
                  cfg.keep_single_chars)
    kept = set(result.old_ids)
    ctx.switch_tokenizer(result.tokenizer, run.work / "tokenizer")
    logits_after = logits_of(student, ctx.dev_encoded(), ctx.eval_batch_size)
    right_before = logits_before.argmax(1) == dev_enc.labels
    right_after = logits_after.argmax(1) == dev_enc.labels
    seen = torch.tensor(fully_seen(old_tok, ctx.dev, kept), dtype=torch.bool)
    dev_seen = {"examples": int(seen.sum()),  # text made of kept tokens: identical ids, so identical scores
                "accuracy_before": round(float(right_before[seen].float().mean()), 4) if seen.any() else None,
                "accuracy_after": round(float(right_after[seen].float().mean()), 4) if seen.any() else None,
                "max_logit_diff": float((logits_after[seen] - logits_before[seen]).abs().max()) if seen.any() else 0.0}
    info = {"vocab_before": before["vocab"], "vocab_after": len(result.tokens),
            "parameters_before": before["parameters"], "parameters_after": student.num_parameters(),
            "weight_bytes_before": before["bytes"], "weight_bytes_after": tensor_bytes(student),
            "counted_examples": len(examples), "min_frequency": cfg.min_frequency,
            "dev_accuracy_before": round(float(right_before.float().mean()), 4),
            "dev_accuracy_after": round(float(right_after.float().mean()), 4), "dev_seen_only": dev_seen,
            "unseen_dev": unseen_rate(old_tok, ctx.dev, kept),
            "unseen_test": unseen_rate(old_tok, run.extra.get("test") or [], kept)}  # measured, never used to decide
    student.config.provenance["vocab_trim"] = {k: v for k, v in info.items() if not isinstance(v, dict)} | {
        "unseen_test_token_rate": info["unseen_test"]["unseen_token_rate"]}
    return student, info


def run_layerdrop(cfg: LayerDropStage, student, run: StageRun):
    data = run.ctx.train_set(cfg.use_augmented)
    weights = LossWeights(logits=cfg.logits, hard=cfg.hard)
    student, info = fit(student, run, cfg, weights=weights, temperature=cfg.temperature, data=data, layerdrop=cfg.p)
    info["p"] = cfg.p
    method = "keep" if cfg.keep is not None else cfg.select
    if method:
        sel = SelectLayersStage(method=method, keep=cfg.keep, target_layers=cfg.target_layers,
                                greedy_examples=cfg.greedy_examples)
        student, info["selection"] = run_select_layers(sel, student, run)
    return student, info


def run_select_layers(cfg: SelectLayersStage, student, run: StageRun):
    n = student.num_layers
    trace: list[dict] = []
    if cfg.method == "keep":
        keep = list(cfg.keep or [])
        if max(keep) >= n:
            raise EdgebertError(f"{run.label}: keep {keep} names layer {max(keep)} but the model has {n} layers",
                                f"use 0-based layers 0..{n - 1}")
    elif cfg.method == "every_other":
        keep = every_other(n)
    else:
        dev = run.ctx.dev_encoded()
        if cfg.greedy_examples and cfg.greedy_examples < len(dev):
            idx = torch.randperm(len(dev), generator=torch.Generator().manual_seed(run.seed))[:cfg.greedy_examples]
            from ..data import Encoded

            dev = Encoded(dev.input_ids[idx], dev.attention_mask[idx], dev.token_type_ids[idx], dev.labels[idx], 0)
        keep, trace = greedy_selection(student, dev, int(cfg.target_layers or n), run.ctx.eval_batch_size)
    student = select_layers(student, keep).train()
    return student, {"method": cfg.method, "kept": keep,
                     "kept_original_layers": student.config.provenance.get("kept_layers"), "trace": trace}


def _importance_loss(cfg: PruneStage, run: StageRun, data: TrainSet):
    if cfg.importance_loss == "hard":
        return lambda logits, idx: hard_cross_entropy(logits, data.labels[idx].to(logits.device))
    soft = run.ctx.teacher_logits(data)
    return lambda logits, idx: soft_cross_entropy(logits, soft[idx].to(logits.device))


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def _iterative_prune(cfg: PruneStage, student, run: StageRun, *, units: str, count: int, score, choose, prune, describe):
    """Score, prune ``count`` units over ``cfg.iterations`` rounds, recovering after each when asked."""
    ctx = run.ctx
    sample = ctx.train
    if len(sample) > cfg.importance_examples:
        sample = random.Random(run.seed).sample(sample, cfg.importance_examples)
    data = ctx.train_set(examples=sample)
    loss_fn = _importance_loss(cfg, run, data)
    bs = cfg.batch_size or ctx.batch_size
    rounds = []
    for it, k in enumerate(_split(count, cfg.iterations)):
        it_dir = run.work / f"iter-{it + 1}"
        done = it_dir / "done.json"
        if done.exists():
            student = load_checkpoint(it_dir / "result").train()
            rounds.append(json.loads(done.read_text()))
            continue
        importance = score(student, data.student, loss_fn, bs, cfg.normalize)
        chosen = choose(importance, k)
        record = {"round": it + 1, units: describe(student, chosen),
                  "importance": [[round(float(x), 5) for x in s] for s in importance] if units == "heads" else None}
        prune(student, chosen)
        student.train()
        if cfg.recover is not None:
            sub = StageRun(ctx, it_dir, mix_seed(run.seed, it + 1), f"{run.label} recover {it + 1}/{cfg.iterations}")
            student, record["recover"] = run_distill(cfg.recover, student, sub)
        if is_main_process():
            save_checkpoint(student, it_dir / "result")
            atomic_write_json(done, record)
        wait_for_everyone()
        rounds.append(record)
    return student, rounds


def run_prune_heads(cfg: PruneHeadsStage, student, run: StageRun):
    total = sum(l.num_heads for l in student.config.layers)
    n = heads_to_prune(total, cfg.fraction, cfg.target_heads, student.num_layers * cfg.min_heads_per_layer)

    def describe(model, chosen):
        kept = model.config.provenance.get("kept_heads")
        return {str(layer): [kept[layer][h] for h in hs] for layer, hs in chosen.items()}

    student, rounds = _iterative_prune(
        cfg, student, run, units="heads", count=n, score=head_importance,
        choose=lambda imp, k: choose_heads(imp, k, cfg.min_heads_per_layer), prune=prune_heads, describe=describe)
    after = sum(l.num_heads for l in student.config.layers)
    return student, {"heads_before": total, "heads_after": after, "rounds": rounds,
                     "heads_per_layer": [l.num_heads for l in student.config.layers],
                     "kept_heads": student.config.provenance.get("kept_heads")}


def run_prune_ffn(cfg: PruneFfnStage, student, run: StageRun):
    total = sum(l.intermediate_size for l in student.config.layers)
    n = max(0, min(round(total * (cfg.fraction or 0)), total - student.num_layers))

    def describe(_model, chosen):
        return {str(layer): len(ns) for layer, ns in chosen.items()}

    student, rounds = _iterative_prune(
        cfg, student, run, units="neurons", count=n, score=ffn_importance,
        choose=lambda imp, k: choose_neurons(imp, k), prune=prune_ffn, describe=describe)
    return student, {"ffn_before": total, "ffn_after": sum(l.intermediate_size for l in student.config.layers),
                     "rounds": rounds}


RUNNERS = {"distill": run_distill, "finetune": run_finetune, "general_distill": run_general_distill,
           "augment": run_augment, "layerdrop": run_layerdrop, "select_layers": run_select_layers,
           "prune_heads": run_prune_heads, "prune_ffn": run_prune_ffn, "trim_vocab": run_trim_vocab}


def preflight(stages: list, depth: int, teacher_depth: int) -> None:
    """Check layer lists against the depth each stage will see, before any training starts."""
    for k, stage in enumerate(stages, 1):
        where = f"recipe stage {k} ({stage.type})"
        if stage.type == "trim_vocab" and k != len(stages):
            raise _bad(where, "trim_vocab must be the last stage (later stages distil through the teacher's "
                              "tokenizer)", "move it to the end of the recipe")
        layer_map = getattr(stage, "layer_map", None)
        if isinstance(layer_map, list):
            if len(layer_map) != depth:
                raise _bad(where, f"layer_map lists {len(layer_map)} layers but the student has {depth} here",
                           "give one teacher layer per student layer")
            if stage.type == "distill" and max(layer_map) >= teacher_depth:
                raise _bad(where, f"layer_map names teacher layer {max(layer_map)} but the teacher has "
                                  f"{teacher_depth} (0-based)", f"use layers 0..{teacher_depth - 1}")
        method = getattr(stage, "method", None) if stage.type == "select_layers" else \
            ("keep" if getattr(stage, "keep", None) is not None else getattr(stage, "select", None))
        if method == "keep":
            if max(stage.keep) >= depth:
                raise _bad(where, f"keep {stage.keep} names layer {max(stage.keep)} but the student has {depth} "
                                  "layers here", f"use 0-based layers 0..{depth - 1}")
            depth = len(stage.keep)
        elif method == "every_other":
            depth = len(every_other(depth))
        elif method == "greedy":
            if stage.target_layers > depth:
                raise _bad(where, f"target_layers {stage.target_layers} exceeds the {depth} layers the student has "
                                  "here", f"pick at most {depth}")
            depth = stage.target_layers
