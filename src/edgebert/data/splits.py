"""Seeded, stratified train/dev/test splits."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import DataError
from .examples import Example, LabelledData

SPLIT_NAMES = ("train", "dev", "test")


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    label_names: list[str]

    def get(self, name: str) -> list[Example]:
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split '{name}'", f"use one of {', '.join(SPLIT_NAMES)}")
        examples = getattr(self, name)
        if not examples:
            raise DataError(f"the {name} split is empty", "use more data or a larger split fraction")
        return examples

    def sizes(self) -> dict[str, int]:
        return {n: len(getattr(self, n)) for n in SPLIT_NAMES}


def split(data: LabelledData, dev: float = 0.1, test: float = 0.1, seed: int = 0) -> Splits:
    """Split per label so small classes appear in every split; same seed, same split."""
    if data.given_splits:
        g = data.given_splits
        return Splits(g.get("train", []), g.get("dev", []), g.get("test", []), data.label_names)
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise DataError(f"split fractions dev={dev} test={test} are invalid", "use fractions that sum to less than 1")
    rng = random.Random(seed)
    train, dv, ts = [], [], []
    by_label: dict[str | None, list[Example]] = {}
    for e in data.examples:
        by_label.setdefault(e.label, []).append(e)
    for label in sorted(by_label, key=str):
        items = by_label[label][:]
        rng.shuffle(items)
        n_test, n_dev = round(len(items) * test), round(len(items) * dev)
        ts += items[:n_test]
        dv += items[n_test:n_test + n_dev]
        train += items[n_test + n_dev:]
    for part in (train, dv, ts):
        rng.shuffle(part)
    return Splits(train, dv, ts, data.label_names)
