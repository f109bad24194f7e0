"""The trainable distillation module (student + projection) and the weighted TinyBERT objective.

The student and the projection that lifts its hidden states to the teacher's width live
in one module, so Accelerate prepares, checkpoints and (under ``accelerate launch``)
synchronises them together. The projection exists only while training: it is dropped
when the stage ends, so the exported student carries no trace of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..model import EdgeBertForSequenceClassification, EncoderOutput
from .losses import attention_mse, hard_cross_entropy, hidden_mse, soft_cross_entropy


@dataclass
class LossWeights:
    embedding: float = 0.0
    hidden: float = 0.0
    attention: float = 0.0
    logits: float = 0.0
    hard: float = 0.0

    @property
    def needs_features(self) -> bool:
        return bool(self.embedding or self.hidden or self.attention)

    @property
    def needs_hidden(self) -> bool:
        return bool(self.embedding or self.hidden)


class DistillWrapper(nn.Module):
    def __init__(self, student: EdgeBertForSequenceClassification, teacher_hidden: int | None = None):
        super().__init__()
        self.student = student
        width = student.config.hidden_size
        # TinyBERT: one learned W_h maps every student state (embeddings too) to the teacher width
        self.proj = nn.Linear(width, teacher_hidden) if teacher_hidden and teacher_hidden != width else None

    def forward(self, input_ids, attention_mask, token_type_ids, *, hidden: bool = False, scores: bool = False,
                layer_keep: list[bool] | None = None):
        out = self.student.forward_features(input_ids, attention_mask, token_type_ids, output_hidden_states=hidden,
                                            output_attention_scores=scores, layer_keep=layer_keep)
        states = out.hidden_states
        if hidden and self.proj is not None:
            states = [self.proj(h) for h in states]
        return out.logits, tuple(states), tuple(out.attention_scores)


class Objective:
    """Weighted sum of the TinyBERT terms; returns the total and per-term floats for logging."""

    SHORT = {"embedding": "emb", "hidden": "hid", "attention": "att", "logits": "kd", "hard": "ce"}

    def __init__(self, weights: LossWeights, temperature: float, pairs: list[tuple[int, int]],
                 head_maps: dict[int, list[int] | None] | None = None):
        self.w = weights
        self.t = temperature
        self.pairs = pairs
        self.head_maps = head_maps or {}

    def __call__(self, logits: torch.Tensor, hidden: tuple, scores: tuple, teacher: EncoderOutput | None,
                 teacher_logits: torch.Tensor | None, mask: torch.Tensor, labels: torch.Tensor | None):
        terms: dict[str, torch.Tensor] = {}
        w = self.w
        if w.embedding:
            terms["embedding"] = hidden_mse(hidden[0], teacher.hidden_states[0], mask)
        if w.hidden:
            terms["hidden"] = sum(hidden_mse(hidden[i + 1], teacher.hidden_states[j + 1], mask) for i, j in self.pairs)
        if w.attention:
            terms["attention"] = sum(attention_mse(scores[i], teacher.attention_scores[j], mask, self.head_maps.get(i))
                                     for i, j in self.pairs)
        if w.logits:
            terms["logits"] = soft_cross_entropy(logits, teacher_logits, self.t)
        if w.hard:
            terms["hard"] = hard_cross_entropy(logits, labels)
        total = sum(getattr(w, k) * v for k, v in terms.items())
        if not terms:
            total = logits.sum() * 0.0
        shown = {self.SHORT[k]: float(v.detach()) for k, v in terms.items()}
        if len(terms) > 1:
            shown["loss"] = float(total.detach())
        return total, shown
