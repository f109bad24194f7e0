"""Labelled examples and label sets, kept as names end to end."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None = None
    text_pair: str | None = None


@dataclass
class LabelledData:
    examples: list[Example]
    label_names: list[str]
    source: str = ""
    # splits that came with the data (e.g. a datasets DatasetDict); None means "split it yourself"
    given_splits: dict[str, list[Example]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def is_pair(self) -> bool:
        return any(e.text_pair is not None for e in self.examples)

    def label_ids(self, examples: list[Example] | None = None) -> list[int]:
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[e.label] for e in (self.examples if examples is None else examples)]


def examples_hash(examples: list[Example]) -> str:
    """Content hash of a set of examples (order-sensitive), recorded in reports and bundles."""
    h = hashlib.sha256()
    for e in examples:
        for part in (e.text, e.text_pair or "", e.label or ""):
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        h.update(b"\x1e")
    return h.hexdigest()
