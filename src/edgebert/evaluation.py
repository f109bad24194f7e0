"""Accuracy, macro-F1, size and CPU latency of a checkpoint: the numbers every later step compares."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .data import Splits, encode, load_tokenizer
from .inference import run_batches
from .model import load_model, model_size_bytes


@dataclass
class SplitResult:
    split: str
    examples: int
    accuracy: float
    macro_f1: float
    truncated: int


@dataclass
class LatencyResult:
    batch_size: int
    seq_len: int
    threads: int
    runs: int
    p50_ms: float
    p90_ms: float
    mean_ms: float


@dataclass
class EvalReport:
    model: str
    labels: list[str]
    parameters: int
    size_bytes: int
    max_seq_len: int
    splits: list[SplitResult] = field(default_factory=list)
    latency: LatencyResult | None = None
    where: str = "host CPU (PyTorch eager)"

    def to_dict(self) -> dict:
        return {"format": EVAL_FORMAT, **asdict(self)}


EVAL_FORMAT = "edgebert-eval"


def macro_f1(pred: torch.Tensor, gold: torch.Tensor, num_labels: int) -> float:
    scores = []
    for c in range(num_labels):
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        if tp + fp + fn == 0:
            continue  # class absent from both: it does not count for or against
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


@torch.inference_mode()
def cpu_latency(model, seq_len: int, runs: int = 30, warmup: int = 5, threads: int | None = None) -> LatencyResult:
    """Batch-1 latency at a fixed sequence length, as a phone app would call it."""
    if threads:
        torch.set_num_threads(threads)
    # a real token id (not [PAD]/[CLS]...: ~100 in BERT vocabularies), valid in any vocabulary size
    ids = torch.full((1, seq_len), min(100, int(model.config.vocab_size) - 1), dtype=torch.long)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    for _ in range(warmup):
        model(ids, mask, types)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model(ids, mask, types)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return LatencyResult(1, seq_len, torch.get_num_threads(), runs, statistics.median(times),
                         times[min(len(times) - 1, int(0.9 * len(times)))], statistics.fmean(times))


def score(model, tokenizer, examples: list, label_names: list[str], split_name: str, *, max_seq_len: int,
          batch_size: int = 64, description: str | None = None) -> SplitResult:
    """Accuracy and macro-F1 of ``model`` on labelled ``examples``: the one evaluation of edgebert."""
    enc = encode(tokenizer, examples, max_seq_len, label_names)
    logits = run_batches(model, enc, batch_size=batch_size, description=description or f"evaluating {split_name}",
                         show_progress=None if description else False)
    return score_logits(logits, enc.labels, len(label_names), split_name, enc.truncated)


def score_logits(logits: torch.Tensor, gold: torch.Tensor, num_labels: int, split_name: str = "",
                 truncated: int = 0) -> SplitResult:
    """Accuracy and macro-F1 of logits already computed (e.g. a frozen teacher's stored ones)."""
    pred = logits.argmax(1)
    return SplitResult(split_name, len(gold), float((pred == gold).float().mean()), macro_f1(pred, gold, num_labels),
                       truncated)


def evaluate(model_dir: str | Path, splits: Splits, split_names: list[str], *, max_seq_len: int = 128,
             batch_size: int = 64, latency_runs: int = 30) -> EvalReport:
    model_dir = Path(model_dir)
    model = load_model(model_dir, require_head=True)
    tok = load_tokenizer(model_dir)
    labels = model.config.label_names
    report = EvalReport(str(model_dir), labels, model.num_parameters(), model_size_bytes(model_dir), max_seq_len)
    for name in split_names:
        examples = splits.get(name)
        report.splits.append(score(model, tok, examples, labels, name, max_seq_len=max_seq_len, batch_size=batch_size,
                                   description=f"evaluating {name} ({len(examples)})"))
    if latency_runs > 0:
        report.latency = cpu_latency(model, max_seq_len, runs=latency_runs)
    return report
