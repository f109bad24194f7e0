"""MPNet (all-mpnet-base-v2): RoBERTa-style positions and head, no token types, and a relative
position bias shared by all layers."""

from __future__ import annotations

from typing import Any

from . import register_family
from .base import Family


@register_family
class MPNet(Family):
    name = "mpnet"
    model_types = ("mpnet",)
    prefix = "mpnet."
    renames = (
        (r"^encoder\.layer\.(\d+)\.attention\.attn\.q\.", r"encoder.layer.\1.attention.self.query."),
        (r"^encoder\.layer\.(\d+)\.attention\.attn\.k\.", r"encoder.layer.\1.attention.self.key."),
        (r"^encoder\.layer\.(\d+)\.attention\.attn\.v\.", r"encoder.layer.\1.attention.self.value."),
        (r"^encoder\.layer\.(\d+)\.attention\.attn\.o\.", r"encoder.layer.\1.attention.output.dense."),
        (r"^encoder\.layer\.(\d+)\.attention\.LayerNorm\.", r"encoder.layer.\1.attention.output.LayerNorm."),
        (r"^classifier\.dense\.", "pre_classifier."),
        (r"^classifier\.out_proj\.", "classifier."),
    )

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        return {"position_offset": int(hf.get("pad_token_id", 1)) + 1, "type_vocab_size": 0,
                "relative_attention_buckets": int(hf.get("relative_attention_num_buckets", 32)),
                "head_activation": "tanh" if "pre_classifier.weight" in state else None}
