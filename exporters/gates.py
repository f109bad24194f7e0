"""Gates every runnable artifact passes before it is called done: logit parity and task accuracy.

Both run the artifact in its own runtime (or, where the runtime cannot run here, the torch
graph with the very same numerics, and the report says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from edgebert.data.encoding import Encoded
from edgebert.progress import progress

from .base import Thresholds
from .sequence import SequenceShape, fit

RunFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class ParityResult:
    examples: int
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    mean_cosine: float
    argmax_agreement: float
    mean_prob_diff: float
    max_prob_diff: float
    cosine_gated: bool
    thresholds: dict
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AccuracyResult:
    split: str
    examples: int
    artifact_accuracy: float
    pytorch_accuracy: float
    drop_points: float
    budget_points: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def run_examples(run: RunFn, enc: Encoded, description: str = "running artifact",
                 sequence: SequenceShape | None = None) -> np.ndarray:
    """Batch-1 calls, as the phone makes them, each example at the length ``sequence`` feeds it
    (padded as encoded when None); returns [N, C] float32 logits."""
    rows = []
    with progress() as bar:
        task = bar.add_task(description, total=len(enc))
        for i in range(len(enc)):
            args = (enc.input_ids[i:i + 1].numpy(), enc.attention_mask[i:i + 1].numpy(),
                    enc.token_type_ids[i:i + 1].numpy())
            rows.append(run(*(fit(args, sequence) if sequence is not None else args))[0])
            bar.advance(task)
    return np.stack(rows).astype(np.float32)


def fed_lengths(enc: Encoded, sequence: SequenceShape | None) -> dict:
    """The lengths the gate fed: a dynamic artifact is gated at the split's real lengths."""
    real = enc.attention_mask.sum(1).numpy()
    fed = np.array([sequence.length_for(n) for n in real]) if sequence is not None else np.full(len(real), enc.input_ids.shape[1])
    return {"kind": str(sequence.kind) if sequence is not None else "static", "min": int(fed.min()),
            "p50": float(np.median(fed)), "max": int(fed.max()), "distinct": int(len(np.unique(fed)))}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def parity(got: np.ndarray, expected: np.ndarray, thresholds: Thresholds) -> ParityResult:
    """Gate rules and why: see :class:`~edgebert.exporters.base.Thresholds`."""
    diff = np.abs(got - expected)
    cos = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1) + 1e-12)
    agree = float((got.argmax(1) == expected.argmax(1)).mean())
    # total-variation distance between the class distributions (for two classes: |change in p(class 1)|)
    pdiff = np.abs(softmax(got.astype(np.float64)) - softmax(expected.astype(np.float64))).sum(1) / 2
    cosine_gated = got.shape[1] > 2
    ok = (agree >= thresholds.min_argmax_agreement
          and (not cosine_gated or float(cos.mean()) >= thresholds.min_mean_cosine)
          and (thresholds.max_abs_diff is None or float(diff.max()) <= thresholds.max_abs_diff)
          and (thresholds.max_mean_prob_diff is None or float(pdiff.mean()) <= thresholds.max_mean_prob_diff))
    return ParityResult(len(got), float(diff.max()), float(diff.mean()), float(cos.min()), float(cos.mean()), agree,
                        float(pdiff.mean()), float(pdiff.max()), cosine_gated, asdict(thresholds), bool(ok))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def accuracy_gate(split: str, artifact_logits: np.ndarray, torch_logits: np.ndarray, labels: np.ndarray,
                  budget_points: float) -> AccuracyResult:
    a, p = accuracy(artifact_logits, labels), accuracy(torch_logits, labels)
    drop = (p - a) * 100
    return AccuracyResult(split, len(labels), a, p, round(drop, 3), budget_points, bool(drop <= budget_points))
