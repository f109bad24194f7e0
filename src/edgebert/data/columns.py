"""Which columns of a data file hold the text, the pair and the label (no pandas: the CLI's help reads it)."""

from __future__ import annotations

from dataclasses import dataclass

TEXT_COLUMNS = ("text", "sentence", "sentence1", "premise", "question", "review", "content")
PAIR_COLUMNS = ("text_pair", "sentence2", "hypothesis")
LABEL_COLUMNS = ("label", "labels", "category", "class", "target")


@dataclass
class Columns:
    """Column names; ``None`` means pick the first conventional name that exists."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
