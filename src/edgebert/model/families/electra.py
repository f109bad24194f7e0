"""ELECTRA (discriminator): embeddings narrower than the hidden size, projected up, and a
dense + GELU + out_proj head."""

from __future__ import annotations

from typing import Any

from . import register_family
from .base import Family


@register_family
class Electra(Family):
    name = "electra"
    model_types = ("electra",)
    prefix = "electra."
    renames = ((r"^embeddings_project\.", "embeddings.projection."), (r"^classifier\.dense\.", "pre_classifier."),
               (r"^classifier\.out_proj\.", "classifier."))

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        size = int(hf.get("embedding_size") or hf["hidden_size"])
        return {"embedding_size": size if size != int(hf["hidden_size"]) else None,
                "head_activation": "gelu" if "pre_classifier.weight" in state else None}
