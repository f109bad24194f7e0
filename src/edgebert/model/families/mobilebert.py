"""MobileBERT: trigram word embeddings projected to the hidden size, bottleneck layers with
stacked FFNs, NoNorm in place of LayerNorm, and the classifier on a dense + tanh pooler
(or on [CLS] itself when ``classifier_activation`` is off)."""

from __future__ import annotations

from typing import Any

from edgebert.errors import CheckpointError

from . import register_family
from .base import Family


@register_family
class MobileBert(Family):
    name = "mobilebert"
    model_types = ("mobilebert",)
    prefix = "mobilebert."
    renames = ((r"^embeddings\.embedding_transformation\.", "embeddings.projection."),)

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        # fallbacks are MobileBertConfig's defaults (google/mobilebert-uncased)
        if not hf.get("use_bottleneck", True):
            raise CheckpointError("MobileBERT without bottlenecks (use_bottleneck: false) is not supported",
                                  "edgebert reads MobileBERT with use_bottleneck true (all released checkpoints)")
        hidden = int(hf["hidden_size"])
        size = int(hf.get("embedding_size", 128))
        return {"embedding_size": size if size != hidden else None, "embedding_projection": "words",
                "trigram_input": bool(hf.get("trigram_input", True)),
                "normalization": str(hf.get("normalization_type", "no_norm")),
                "bottleneck_size": int(hf.get("intra_bottleneck_size", 128)),
                "key_query_shared_bottleneck": bool(hf.get("key_query_shared_bottleneck", True)),
                "bottleneck_attention": bool(hf.get("use_bottleneck_attention", False)),
                "feedforward_networks": int(hf.get("num_feedforward_networks", 4)),
                "cls_pooler": bool(hf.get("classifier_activation", True)),
                "hidden_act": str(hf.get("hidden_act", "relu")),
                "hidden_dropout_prob": float(hf.get("hidden_dropout_prob", 0.0))}
