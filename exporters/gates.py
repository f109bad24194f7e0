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

RunFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class ParityResult:
    examples: int
    max_abs_diff: float
    mean_abs_diff: float
    min_cosine: float
    mean_cosine: float
    argmax_agreement: float
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


def run_examples(run: RunFn, enc: Encoded, description: str = "running artifact") -> np.ndarray:
    """Batch-1 calls, as the phone makes them; returns [N, C] float32 logits."""
    rows = []
    with progress() as bar:
        task = bar.add_task(description, total=len(enc))
        for i in range(len(enc)):
            rows.append(run(enc.input_ids[i:i + 1].numpy(), enc.attention_mask[i:i + 1].numpy(),
                            enc.token_type_ids[i:i + 1].numpy())[0])
            bar.advance(task)
    return np.stack(rows).astype(np.float32)


def parity(got: np.ndarray, expected: np.ndarray, thresholds: Thresholds) -> ParityResult:
    diff = np.abs(got - expected)
    cos = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1) + 1e-12)
    agree = float((got.argmax(1) == expected.argmax(1)).mean())
    ok = (float(cos.mean()) >= thresholds.min_mean_cosine and agree >= thresholds.min_argmax_agreement
          and (thresholds.max_abs_diff is None or float(diff.max()) <= thresholds.max_abs_diff))
    return ParityResult(len(got), float(diff.max()), float(diff.mean()), float(cos.min()), float(cos.mean()), agree,
                        asdict(thresholds), bool(ok))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def accuracy_gate(split: str, artifact_logits: np.ndarray, torch_logits: np.ndarray, labels: np.ndarray,
                  budget_points: float) -> AccuracyResult:
    a, p = accuracy(artifact_logits, labels), accuracy(torch_logits, labels)
    drop = (p - a) * 100
    return AccuracyResult(split, len(labels), a, p, round(drop, 3), budget_points, bool(drop <= budget_points))
