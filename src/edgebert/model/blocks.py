"""Pieces both layer kinds are built from (BERT's post-LayerNorm layer in ``modeling`` and
MobileBERT's bottleneck layer in ``mobilebert_blocks``): activations, normalisation, attention.

Parameter names follow Hugging Face's BERT (``query``, ``dense``, ``LayerNorm``...), so
checkpoints map onto them by renaming and head/FFN pruning finds the same attributes in
either layer kind.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import LayerShape


class TanhGELU(nn.Module):
    """GELU's tanh approximation (BERT's "gelu_new", ALBERT's default) written out: XNNPACK's
    fused tanh-GELU kernel is itself approximate (3e-4 off at the logits of a small model),
    its tanh is not, so spelling the formula keeps ExecuTorch fp32 within parity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def activation(name: str) -> nn.Module:
    if name == "gelu":
        return nn.GELU()
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return TanhGELU()
    if name == "tanh":
        return nn.Tanh()
    return nn.ReLU()


class NoNorm(nn.Module):
    """MobileBERT's replacement for LayerNorm: an elementwise affine, no statistics (cheaper on
    phones). Its parameters are named like LayerNorm's so checkpoints and weight decay see no difference."""

    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


def norm(kind: str, width: int, eps: float) -> nn.Module:
    """The normalisation ``EdgeBertConfig.normalization`` names."""
    return NoNorm(width) if kind == "no_norm" else nn.LayerNorm(width, eps=eps)


class SelfAttention(nn.Module):
    """Multi-head attention with explicit pre-softmax scores (distillation reads them).

    ``in_width`` feeds query and key; ``value_width`` the value (MobileBERT may take the value
    from the full hidden states while query and key come from a bottleneck)."""

    def __init__(self, in_width: int, shape: LayerShape, dropout: float, value_width: int | None = None):
        super().__init__()
        self.num_heads = shape.num_heads
        self.head_dim = shape.head_dim
        width = shape.attention_width
        self.query = nn.Linear(in_width, width)
        self.key = nn.Linear(in_width, width)
        self.value = nn.Linear(value_width or in_width, width)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(shape.head_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_gate: torch.Tensor | None = None,
                position_bias: torch.Tensor | None = None, value_input: torch.Tensor | None = None):
        # 3-D bmm over (batch x heads), not 4-D matmul: torch.export decomposes a 4-D matmul into
        # expand + bmm, and ExecuTorch runs each expand as a full copy on its portable kernels
        # (4 per layer, outside XNNPACK); bmm lowers whole
        b, t, _ = x.shape
        q = self._heads(self.query(x)).reshape(b * self.num_heads, t, self.head_dim)
        k = self._heads(self.key(x)).reshape(b * self.num_heads, t, self.head_dim)
        v = self._heads(self.value(x if value_input is None else value_input)).reshape(b * self.num_heads, t, self.head_dim)
        scores = (torch.bmm(q, k.transpose(1, 2)) * self.scale).view(b, self.num_heads, t, t)
        if position_bias is not None:  # MPNet: part of the score every layer attends with
            scores = scores + position_bias
        probs = self.dropout(torch.softmax(scores + additive_mask, dim=-1))
        if head_gate is not None:  # importance gates xi_h for head pruning
            probs = probs * head_gate.view(1, -1, 1, 1)
        ctx = torch.bmm(probs.reshape(b * self.num_heads, t, t), v).view(b, self.num_heads, t, self.head_dim)
        return ctx.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim), scores


class SelfOutput(nn.Module):
    """dense -> dropout -> norm(x + residual): the residual block every layer kind ends its parts with."""

    def __init__(self, in_width: int, width: int, eps: float, dropout: float, normalization: str = "layer_norm"):
        super().__init__()
        self.dense = nn.Linear(in_width, width)
        self.LayerNorm = norm(normalization, width, eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, width: int, act: str):
        super().__init__()
        self.dense = nn.Linear(hidden, width)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))
