"""A compact BERT encoder + classifier that exports to every mobile runtime.

Why not ``transformers.BertForSequenceClassification``: its mask code breaks PT2E
calibration and CoreML conversion, and it cannot hold per-layer head counts. This module
builds its own additive mask, computes attention explicitly (so distillation can read
pre-softmax scores), and keeps a plain ``forward(input_ids, attention_mask,
token_type_ids) -> logits`` signature that ``torch.export`` traces without graph breaks.
Parameter names follow Hugging Face's so checkpoints map one to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import EdgeBertConfig, LayerShape

# Large enough to zero a softmax term, small enough to stay finite in fp16 (CoreML).
MASK_VALUE = -10000.0


def _activation(name: str):
    if name == "gelu":
        return nn.GELU()
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return nn.GELU(approximate="tanh")
    return nn.ReLU()


@dataclass
class EncoderOutput:
    """Everything distillation needs from one forward pass."""

    logits: torch.Tensor
    # embeddings output followed by every layer's output: num_layers + 1 tensors [B, T, H]
    hidden_states: list[torch.Tensor] = field(default_factory=list)
    # per layer, scaled q.k scores BEFORE mask and softmax: [B, heads, T, T]
    attention_scores: list[torch.Tensor] = field(default_factory=list)
    pooled: torch.Tensor | None = None


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    """[B, T] float 1/0 mask -> [B, 1, 1, T] additive mask, built here (not by HF) so it exports."""
    return ((1.0 - mask) * MASK_VALUE)[:, None, None, :]


class Embeddings(nn.Module):
    def __init__(self, cfg: EdgeBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        # Slicing the weight instead of indexing with arange keeps the graph free of
        # integer buffers, which PT2E observers and CoreML both dislike.
        positions = self.position_embeddings.weight[:seq_len].unsqueeze(0)
        x = self.word_embeddings(input_ids) + positions + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, shape: LayerShape, dropout: float):
        super().__init__()
        self.num_heads = shape.num_heads
        self.head_dim = shape.head_dim
        width = shape.attention_width
        self.query = nn.Linear(hidden, width)
        self.key = nn.Linear(hidden, width)
        self.value = nn.Linear(hidden, width)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(shape.head_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_gate: torch.Tensor | None = None):
        q = self._heads(self.query(x))
        k = self._heads(self.key(x))
        v = self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        probs = self.dropout(torch.softmax(scores + additive_mask, dim=-1))
        if head_gate is not None:  # importance gates xi_h for head pruning
            probs = probs * head_gate.view(1, -1, 1, 1)
        ctx = torch.matmul(probs, v).transpose(1, 2)
        b, t = ctx.shape[:2]
        return ctx.reshape(b, t, self.num_heads * self.head_dim), scores


class SelfOutput(nn.Module):
    def __init__(self, in_width: int, hidden: int, eps: float, dropout: float):
        super().__init__()
        self.dense = nn.Linear(in_width, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.self = SelfAttention(cfg.hidden_size, shape, cfg.attention_dropout_prob)
        self.output = SelfOutput(shape.attention_width, cfg.hidden_size, cfg.layer_norm_eps, cfg.hidden_dropout_prob)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, width: int, act: str):
        super().__init__()
        self.dense = nn.Linear(hidden, width)
        self.act = _activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.attention = Attention(cfg, shape)
        self.intermediate = Intermediate(cfg.hidden_size, shape.intermediate_size, cfg.hidden_act)
        self.output = SelfOutput(shape.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_gate: torch.Tensor | None = None):
        ctx, scores = self.attention.self(x, additive_mask, head_gate)
        x = self.attention.output(ctx, x)
        return self.output(self.intermediate(x), x), scores


class Encoder(nn.Module):
    def __init__(self, cfg: EdgeBertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg, s) for s in cfg.layers)


class Pooler(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x[:, 0]))


class EdgeBertForSequenceClassification(nn.Module):
    """BERT encoder + pooling + linear classifier with per-layer shapes."""

    def __init__(self, config: EdgeBertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config.hidden_size) if config.pooling == "cls" else None
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layer)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits only: the signature every exporter traces."""
        return self.forward_features(input_ids, attention_mask, token_type_ids).logits

    def forward_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        output_hidden_states: bool = False,
        output_attention_scores: bool = False,
        head_gates: list[torch.Tensor] | None = None,
        layer_keep: list[bool] | None = None,
    ) -> EncoderOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        mask = attention_mask.to(torch.float32)
        additive = additive_mask(mask)

        x = self.embeddings(input_ids, token_type_ids)
        hidden_states = [x] if output_hidden_states else []
        scores_out = []
        for i, layer in enumerate(self.encoder.layer):
            if layer_keep is not None and not layer_keep[i]:
                continue  # LayerDrop: the whole layer is skipped this step
            x, scores = layer(x, additive, None if head_gates is None else head_gates[i])
            if output_hidden_states:
                hidden_states.append(x)
            if output_attention_scores:
                scores_out.append(scores)
        pooled, logits = self.classify(x, mask)
        return EncoderOutput(logits, hidden_states, scores_out, pooled)

    def classify(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool the last hidden states ([CLS] pooler or masked mean) and apply the head."""
        if self.pooler is not None:
            pooled = self.pooler(x)
        else:
            weights = mask.unsqueeze(-1)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return pooled, self.classifier(self.dropout(pooled))

    def forward_from_layer(self, x: torch.Tensor, attention_mask: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the hidden states entering layer ``start`` (lets callers cache lower layers)."""
        mask = attention_mask.to(torch.float32)
        additive = additive_mask(mask)
        for layer in self.encoder.layer[start:]:
            x, _ = layer(x, additive)
        return self.classify(x, mask)[1]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
