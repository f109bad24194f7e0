"""What a family adapter says: which checkpoints it reads, how their weights are named, and
which :class:`EdgeBertConfig` options describe the architecture."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import torch

from edgebert.errors import CheckpointError


class Family:
    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]
    prefix: ClassVar[str]  # the base model's attribute in *ForSequenceClassification ("bert.", "roberta.")
    # (regex on the name after the prefix, replacement) applied in order; first match wins
    renames: ClassVar[tuple[tuple[str, str], ...]] = ()
    # names of the config.json fields, where a family spells them its own way
    fields: ClassVar[dict[str, str]] = {}

    def rename(self, key: str) -> str | None:
        """A checkpoint's weight name -> edgebert's (None: not part of the classifier)."""
        for prefix in (self.prefix, "model.", "encoder_model."):  # sentence-transformers exports add the latter
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        for pattern, repl in self.renames:
            new, n = re.subn(pattern, repl, key)
            if n:
                return new
        return key

    def get(self, hf: dict[str, Any], name: str, default: Any = None) -> Any:
        return hf.get(self.fields.get(name, name), default)

    def require(self, hf: dict[str, Any], name: str) -> int:
        try:
            return int(hf[self.fields.get(name, name)])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"config.json lacks a {self.name} field ({exc})",
                                  f"pass a complete {self.name} config.json") from None

    def options(self, hf: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, Any]:
        """EdgeBertConfig options beyond the common ones (position offset, head, ...)."""
        return {}

    def depth_in_weights(self, hf: dict[str, Any]) -> int:
        """How many distinct layers the weights hold (1 when layers are shared)."""
        return self.require(hf, "num_hidden_layers")
