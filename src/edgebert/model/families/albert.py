"""ALBERT: factorized embeddings (E x H) and one set of layer weights shared across depth."""

from __future__ import annotations

from typing import Any

from edgebert.errors import CheckpointError

from . import register_family
from .base import Family

_LAYER = r"^encoder\.albert_layer_groups\.0\.albert_layers\.0\."


@register_family
class Albert(Family):
    name = "albert"
    model_types = ("albert",)
    prefix = "albert."
    renames = (
        (r"^encoder\.embedding_hidden_mapping_in\.", "embeddings.projection."),
        (_LAYER + r"attention\.(query|key|value)\.", r"encoder.layer.0.attention.self.\1."),
        (_LAYER + r"attention\.dense\.", "encoder.layer.0.attention.output.dense."),
        (_LAYER + r"attention\.LayerNorm\.", "encoder.layer.0.attention.output.LayerNorm."),
        (_LAYER + r"ffn\.", "encoder.layer.0.intermediate.dense."),
        (_LAYER + r"ffn_output\.", "encoder.layer.0.output.dense."),
        (_LAYER + r"full_layer_layer_norm\.", "encoder.layer.0.output.LayerNorm."),
        (r"^pooler\.", "pooler.dense."),
    )

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        if int(hf.get("num_hidden_groups", 1)) != 1 or int(hf.get("inner_group_num", 1)) != 1:
            raise CheckpointError("ALBERT with several layer groups is not supported",
                                  "edgebert reads ALBERT with num_hidden_groups = inner_group_num = 1 (all releases)")
        size = int(hf.get("embedding_size") or hf["hidden_size"])
        return {"embedding_size": size if size != int(hf["hidden_size"]) else None, "shared_layers": True}

    def depth_in_weights(self, hf: dict[str, Any]) -> int:
        return 1
