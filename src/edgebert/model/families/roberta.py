"""RoBERTa, DistilRoBERTa and XLM-R: positions start after padding_idx, one token type, and a
dense + tanh + out_proj head on ``<s>``."""

from __future__ import annotations

from typing import Any

from . import register_family
from .base import Family


@register_family
class Roberta(Family):
    name = "roberta"
    model_types = ("roberta", "xlm-roberta", "camembert")
    prefix = "roberta."
    renames = ((r"^classifier\.dense\.", "pre_classifier."), (r"^classifier\.out_proj\.", "classifier."))

    def options(self, hf: dict[str, Any], state) -> dict[str, Any]:
        return {"position_offset": int(hf.get("pad_token_id", 1)) + 1,
                "head_activation": "tanh" if "pre_classifier.weight" in state else None}
