"""The calibration-set sampler every int8 exporter uses, so all targets see the same data."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import DataError
from .examples import Example, examples_hash


@dataclass
class CalibrationSet:
    examples: list[Example]
    seed: int
    sha256: str

    def __len__(self) -> int:
        return len(self.examples)


def sample_calibration(examples: list[Example], size: int = 128, seed: int = 0,
                       stratify: bool = True) -> CalibrationSet:
    """Draw ``size`` examples, stratified by label so every class shapes the ranges."""
    if size <= 0:
        raise DataError(f"calibration size must be positive, got {size}", "pass --calib-size N with N > 0")
    if not examples:
        raise DataError("the calibration set is empty", "pass calibration data with at least one example")
    rng = random.Random(seed)
    if size >= len(examples):
        chosen = examples[:]
    elif stratify and any(e.label is not None for e in examples):
        by_label: dict[str | None, list[Example]] = {}
        for e in examples:
            by_label.setdefault(e.label, []).append(e)
        chosen = []
        labels = sorted(by_label, key=str)
        quota = {l: max(1, round(size * len(by_label[l]) / len(examples))) for l in labels}
        for l in labels:
            chosen += rng.sample(by_label[l], min(quota[l], len(by_label[l])))
        rng.shuffle(chosen)
        chosen = chosen[:size]
    else:
        chosen = rng.sample(examples, size)
    return CalibrationSet(chosen, seed, examples_hash(chosen))
