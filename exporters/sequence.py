"""Which sequence lengths an artifact accepts: the app-side contract in ``metadata.json``.

A phone spends most of a padded inference on [PAD] tokens: a review of 20 tokens run at 64
does three times the work. Artifacts whose runtime takes a dynamic length (ONNX, ExecuTorch
with XNNPACK) are exported with one, bounded by the bundle's ``seq_len``; others take a
fixed length, or a few enumerated ones (Core ML EnumeratedShapes). Every reader — the gates,
the device bench, the web demo, ``load_bundle`` — feeds an example through :meth:`length_for`,
so what was gated is what the app runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from edgebert.errors import EdgebertError


class SeqKind(str, Enum):
    STATIC = "static"  # always pad to max_len
    DYNAMIC = "dynamic"  # the example's own length, min_len..max_len
    ENUMERATED = "enumerated"  # the smallest of ``lengths`` that holds the example

    def __str__(self) -> str:
        return self.value


MIN_TOKENS = 2  # [CLS] [SEP]: no tokenizer edgebert supports makes fewer


@dataclass(frozen=True)
class SequenceShape:
    kind: SeqKind
    max_len: int
    min_len: int = MIN_TOKENS
    lengths: tuple[int, ...] = field(default_factory=tuple)  # ENUMERATED only, ascending, last == max_len

    @classmethod
    def static(cls, max_len: int) -> "SequenceShape":
        return cls(SeqKind.STATIC, int(max_len), int(max_len))

    @classmethod
    def dynamic(cls, max_len: int, min_len: int = MIN_TOKENS) -> "SequenceShape":
        return cls(SeqKind.DYNAMIC, int(max_len), int(min_len))

    @classmethod
    def enumerated(cls, lengths: list[int] | tuple[int, ...], max_len: int) -> "SequenceShape":
        kept = sorted({int(n) for n in lengths if MIN_TOKENS <= int(n) < max_len} | {int(max_len)})
        return cls(SeqKind.ENUMERATED, int(max_len), kept[0], tuple(kept))

    def length_for(self, tokens: int) -> int:
        """The length to feed an example of ``tokens`` real tokens (already truncated to max_len)."""
        tokens = min(max(int(tokens), self.min_len), self.max_len)
        if self.kind is SeqKind.DYNAMIC:
            return tokens
        if self.kind is SeqKind.ENUMERATED:
            return next(n for n in self.lengths if n >= tokens)
        return self.max_len

    def lengths_to_check(self) -> list[int]:
        """Lengths a structural check covers: the bounds, or every enumerated one."""
        if self.kind is SeqKind.ENUMERATED:
            return list(self.lengths)
        return sorted({self.min_len, self.max_len})

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind.value, "max_len": self.max_len, "min_len": self.min_len}
        if self.kind is SeqKind.ENUMERATED:
            doc["lengths"] = list(self.lengths)
        return doc

    @classmethod
    def from_dict(cls, doc: Any, seq_len: int, where: str = "metadata.json") -> "SequenceShape":
        """Bundles written before the contract existed were all padded to ``seq_len``."""
        if doc is None:
            return cls.static(seq_len)
        try:
            kind = SeqKind(doc["kind"])
            max_len = int(doc.get("max_len", seq_len))
            if kind is SeqKind.ENUMERATED:
                return cls.enumerated(doc["lengths"], max_len)
            if kind is SeqKind.STATIC:
                return cls.static(max_len)
            return cls.dynamic(max_len, int(doc.get("min_len", MIN_TOKENS)))
        except (KeyError, TypeError, ValueError, StopIteration) as exc:
            raise EdgebertError(f"{where} has a malformed 'sequence' ({type(exc).__name__}: {exc})",
                                "re-export it with `edgebert export`") from None


def real_length(attention_mask: np.ndarray) -> int:
    return int(np.asarray(attention_mask).reshape(-1).sum())


def fit(arrays: tuple[np.ndarray, ...], shape: SequenceShape) -> tuple[np.ndarray, ...]:
    """Cut a padded [1, L] example to the length ``shape`` feeds it at, keeping its real tokens.

    Right-padded rows keep their head, left-padded rows (``padding_side=left``) their tail;
    the mask (the second array) tells which. Examples come padded to the bundle's seq_len,
    which is ``max_len``, so nothing is ever lengthened here."""
    ids, mask = np.asarray(arrays[0]), np.asarray(arrays[1]).reshape(-1)
    width = ids.shape[-1]
    target = shape.length_for(real_length(mask))
    if target >= width:
        return tuple(np.asarray(a) for a in arrays)
    left_padded = mask[0] == 0 and mask[-1] == 1
    return tuple(np.ascontiguousarray(np.asarray(a)[..., width - target:] if left_padded else np.asarray(a)[..., :target])
                 for a in arrays)
