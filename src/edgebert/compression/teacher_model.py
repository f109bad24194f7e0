"""Load the teacher: an edgebert/BERT folder natively, any other HF classifier through transformers.

Both kinds answer ``forward_features`` with edgebert's :class:`EncoderOutput`, so the
distillation code never branches on the teacher's origin. Only edgebert models expose
PRE-softmax attention scores; a transformers model returns softmax probabilities, which
are not what TinyBERT's attention loss compares, so for those teachers the attention
loss is switched off (and the report says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import nn

from ..errors import CheckpointError
from ..model import EdgeBertConfig, EdgeBertForSequenceClassification, EncoderOutput, load_model
from ..model.checkpoint import is_edgebert_dir, model_size_bytes
from ..model.families import supported_model_types
from ..model.hf import check_model_dir, read_json, safetensors_files


class HFTeacher(nn.Module):
    """Wrap ``AutoModelForSequenceClassification`` so it looks like an edgebert model to distillation."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        cfg = model.config
        self.config = cfg
        self._types = int(getattr(cfg, "type_vocab_size", 0) or 0) > 1

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        return self.forward_features(input_ids, attention_mask, token_type_ids).logits

    def forward_features(self, input_ids, attention_mask=None, token_type_ids=None, *,
                         output_hidden_states: bool = False, output_attention_scores: bool = False,
                         **_: object) -> EncoderOutput:
        kw = {"token_type_ids": token_type_ids} if self._types and token_type_ids is not None else {}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         output_hidden_states=output_hidden_states, **kw)
        hidden = list(out.hidden_states) if output_hidden_states and out.hidden_states is not None else []
        return EncoderOutput(out.logits, hidden, [], None)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass
class Teacher:
    model: nn.Module  # EdgeBertForSequenceClassification or HFTeacher, in eval mode
    path: Path
    kind: str  # "edgebert" (incl. HF BERT converted on load) or "transformers"
    label_names: list[str]
    hidden_size: int
    num_layers: int

    @property
    def has_scores(self) -> bool:
        """Pre-softmax attention scores are available (needed by the attention loss)."""
        return self.kind == "edgebert"

    @property
    def heads(self) -> list[int]:
        if isinstance(self.model, EdgeBertForSequenceClassification):
            return [l.num_heads for l in self.model.config.layers]
        return [int(self.model.config.num_attention_heads)] * self.num_layers

    @property
    def max_positions(self) -> int:
        cfg = self.model.config
        if isinstance(cfg, EdgeBertConfig):
            return cfg.max_seq_len
        return int(getattr(cfg, "max_position_embeddings", 512) or 512)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def size_bytes(self) -> int:
        return model_size_bytes(self.path)

    def recorded_max_seq_len(self) -> int | None:
        if isinstance(self.model, EdgeBertForSequenceClassification):
            value = self.model.config.provenance.get("head_training", {}).get("max_seq_len")
            return int(value) if value else None
        return None


def _model_type(path: Path) -> str | None:
    cfg = path / "config.json"
    if not cfg.exists():
        return None
    return read_json(cfg, "config.json").get("model_type")


def load_teacher(path: str | Path, *, require_head: bool = True) -> Teacher:
    """An edgebert folder or a HF folder of a supported family loads natively (pre-softmax attention
    scores available); any other HF classifier goes through transformers."""
    path = check_model_dir(path)
    model_type = None if is_edgebert_dir(path) else _model_type(path)
    if model_type is None or model_type in supported_model_types():
        model = load_model(path, require_head=require_head).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return Teacher(model, path, "edgebert", list(model.config.label_names), model.config.hidden_size,
                       model.num_layers)
    return _load_transformers_teacher(path, model_type)


def _load_transformers_teacher(path: Path, model_type: str) -> Teacher:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    safetensors_files(path)  # refuses a pickle-only folder before transformers sees it
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(path), local_files_only=True, use_safetensors=True, attn_implementation="eager",
            output_loading_info=True)
    except SafetensorError as exc:
        raise CheckpointError(f"the safetensors weights in {path} are corrupt or truncated ({_first_line(exc)})",
                              "re-download or re-save the checkpoint") from None
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"cannot load {path} as a '{model_type}' classifier: {_first_line(exc)}",
                              "pass a folder saved with save_pretrained() from a *ForSequenceClassification model") \
            from None
    missing = [k for k in info.get("missing_keys", []) if "classifier" in k or "score" in k]
    if missing:
        raise CheckpointError(f"{path} has no trained classification head (missing {missing[0]})",
                              "fine-tune a head first; a teacher must already solve the task")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = model.config
    id2label = getattr(cfg, "id2label", None) or {}
    labels = [str(id2label[k]) for k in sorted(id2label, key=int)] if id2label else \
        [f"LABEL_{i}" for i in range(cfg.num_labels)]
    wrapped = HFTeacher(model).eval()
    return Teacher(wrapped, path, "transformers", labels, int(cfg.hidden_size), int(cfg.num_hidden_layers))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


PROBE = "The Film's plot, oddly UNDERWHELMING -- wasn't it? 1234 naïve café"


def same_tokenizer(a, b) -> bool:
    """Two tokenizers agree on vocabulary and on a probe with case, accents and punctuation."""
    if a is b:
        return True
    return a.get_vocab() == b.get_vocab() and a(PROBE)["input_ids"] == b(PROBE)["input_ids"]
