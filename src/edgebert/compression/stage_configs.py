"""Typed stage configs: one dataclass per recipe ``type``, each validating its own fields.

Field defaults follow the papers where they fit a CPU budget (TinyBERT: T=1, p=0.4, K=15;
LayerDrop: p=0.2); recipes override them. :func:`preflight` checks a whole stage list
against the depths each stage will see, before any training. The runners that execute
these configs live in :mod:`stage_runners`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..errors import EdgebertError
from . import augment as aug
from .distill import LossWeights
from .layer_selection import every_other
from .losses import LAYER_MAPS
from .vocab_trim_models import TRIMMABLE

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
    """Keep only the tokens the training text uses (+ specials, single characters or bytes)."""

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


@dataclass(frozen=True)
class StudentFacts:
    """What a stage may need to know about the student's architecture before it runs."""

    shared_layers: bool = False  # ALBERT: one set of weights at every depth
    relative_attention: bool = False  # MPNet: a relative position bias shared by all heads of all layers
    tokenizer: str = "WordPiece"  # the tokenizer's model type (vocabulary trimming edits only some)
    family: str = "bert"
    feedforward_networks: int = 1  # MobileBERT: FFNs stacked per layer, sharing one width in the config

    @classmethod
    def of(cls, model, tokenizer_type: str = "WordPiece") -> "StudentFacts":
        cfg = model.config
        return cls(bool(getattr(cfg, "shared_layers", False)), bool(getattr(cfg, "relative_attention_buckets", 0)),
                   tokenizer_type, str(getattr(cfg, "family", "bert")),
                   int(getattr(cfg, "feedforward_networks", 1)))


# stage type -> why it cannot run on such a student (checked before any work)
_RESHAPES_LAYERS = ("select_layers", "prune_heads", "prune_ffn")


def _unsupported(stage, facts: StudentFacts) -> str | None:
    reshapes = stage.type in _RESHAPES_LAYERS or (stage.type == "layerdrop" and
                                                  (stage.keep is not None or stage.select is not None))
    if facts.shared_layers and reshapes:
        return (f"a {facts.family} student shares one layer's weights across depth, so its layers cannot be "
                "selected or pruned one by one")
    if facts.relative_attention and stage.type == "prune_heads":
        return f"a {facts.family} student's relative position bias is shared by every head, so heads cannot be pruned"
    if facts.feedforward_networks > 1 and stage.type == "prune_ffn":
        return (f"a {facts.family} student stacks {facts.feedforward_networks} feed-forward networks in each layer "
                "and their widths are one setting, so FFN neurons cannot be pruned")
    if facts.tokenizer not in TRIMMABLE and stage.type == "trim_vocab":
        return (f"vocabulary trimming handles {', '.join(TRIMMABLE)} tokenizers; this student's tokenizer is "
                f"{facts.tokenizer}")
    return None


def preflight(stages: list, depth: int, teacher_depth: int, facts: StudentFacts | None = None) -> None:
    """Check each stage against the student it will see (depth, architecture), before any training starts."""
    facts = facts or StudentFacts()
    for k, stage in enumerate(stages, 1):
        where = f"recipe stage {k} ({stage.type})"
        why = _unsupported(stage, facts)
        if why:
            raise _bad(where, why, "drop this stage from the recipe, or start from a student of another family")
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
