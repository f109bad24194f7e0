"""DistilBERT: no token types, its own weight names, and a pre_classifier + ReLU head."""

from __future__ import annotations

from typing import Any

from . import register_family
from .base import Family


@register_family
class DistilBert(Family):
    name = "distilbert"
    model_types = ("distilbert",)
    prefix = "distilbert."
    renames = (
        (r"^transformer\.layer\.(\d+)\.attention\.q_lin\.", r"encoder.layer.\1.attention.self.query."),
        (r"^transformer\.layer\.(\d+)\.attention\.k_lin\.", r"encoder.layer.\1.attention.self.key."),
        (r"^transformer\.layer\.(\d+)\.attention\.v_lin\.", r"encoder.layer.\1.attention.self.value."),
        (r"^transformer\.layer\.(\d+)\.attention\.out_lin\.", r"encoder.layer.\1.attention.output.dense."),
        (r"^transformer\.layer\.(\d+)\.sa_layer_norm\.", r"encoder.layer.\1.attention.output.LayerNorm."),
        (r"^transformer\.layer\.(\d+)\.ffn\.lin1\.", r"encoder.layer.\1.intermediate.dense."),
        (r"^transformer\.layer\.(\d+)\.ffn\.lin2\.", r"encoder.layer.\1.output.dense."),
        (r"^transformer\.layer\.(\d+)\.output_layer_norm\.", r"encoder.layer.\1.output.LayerNorm."),
    )
    fields = {"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
              "intermediate_size": "hidden_dim", "hidden_act": "activation", "hidden_dropout_prob": "dropout",
              "attention_probs_dropout_prob": "attention_dropout"}

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        return {"type_vocab_size": 0, "layer_norm_eps": 1e-12,
                "head_activation": "relu" if "pre_classifier.weight" in state else None}
