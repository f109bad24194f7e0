"""MobileBERT's embedding and bottleneck layer, selected by :class:`EdgeBertConfig` options
(``embedding_projection: words``, ``trigram_input``, ``bottleneck_size``, ...).

A MobileBERT layer keeps ``hidden_size`` between layers but works inside at the narrower
``bottleneck_size``: an input bottleneck (and, with ``key_query_shared_bottleneck``, a
second one feeding query and key), attention, ``feedforward_networks`` stacked FFNs, and an
output bottleneck back to ``hidden_size`` with a residual from the layer input. Module and
parameter names are Hugging Face's, so a checkpoint loads by renaming one module; every
branch is fixed at construction, so ``torch.export`` sees straight-line code.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import Intermediate, SelfAttention, SelfOutput, norm
from .config import EdgeBertConfig, LayerShape

# transformers builds MobileBERT's embedding norm and each layer's inner output norm without
# passing layer_norm_eps, so in layer_norm mode they use torch's default; matched for parity
TORCH_LAYER_NORM_EPS = 1e-5


class WordProjectedEmbeddings(nn.Module):
    """Narrow word embeddings (as trigrams: each token beside its neighbours) projected to
    hidden_size, then positions and token types, which are hidden_size wide, added and normalised."""

    def __init__(self, cfg: EdgeBertConfig):
        super().__init__()
        width, hidden = cfg.embedding_size or cfg.hidden_size, cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, width, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, hidden)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, hidden) if cfg.type_vocab_size else None
        self.trigram = cfg.trigram_input
        projected = width * 3 if self.trigram else width
        self.projection = nn.Linear(projected, hidden) if projected != hidden else None
        self.LayerNorm = norm(cfg.normalization, hidden, TORCH_LAYER_NORM_EPS)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.position_offset = cfg.position_offset

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        x = self.word_embeddings(input_ids)
        if self.trigram:  # [next, this, previous] (a kernel-3 convolution)
            x = torch.cat([torch.cat([x[:, 1:], self._after_end(x)], dim=1), x,
                           torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)], dim=2)
        if self.projection is not None:
            x = self.projection(x)
        start, seq_len = self.position_offset, input_ids.shape[1]
        x = x + self.position_embeddings.weight[start:start + seq_len].unsqueeze(0)  # see Embeddings
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


    def _after_end(self, x: torch.Tensor) -> torch.Tensor:
        """What the last position sees as its next token: the [PAD] embedding, which is what
        transformers feeds every text that has padding after it. transformers puts zeros there
        instead, so a text's logits would change with how much padding its batch carries, and
        a fixed-width export would disagree with batches trimmed to their longest text."""
        pad = self.word_embeddings.padding_idx or 0
        return self.word_embeddings.weight[pad:pad + 1].unsqueeze(0).expand(x.shape[0], 1, x.shape[2])


class BottleneckLayer(nn.Module):
    def __init__(self, hidden: int, width: int, normalization: str, eps: float):
        super().__init__()
        self.dense = nn.Linear(hidden, width)
        self.LayerNorm = norm(normalization, width, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x))


class Bottleneck(nn.Module):
    def __init__(self, cfg: EdgeBertConfig):
        super().__init__()
        args = (cfg.hidden_size, cfg.bottleneck_size, cfg.normalization, cfg.layer_norm_eps)
        self.input = BottleneckLayer(*args)
        # no query/key bottleneck when attention reads the input bottleneck itself (transformers
        # builds one anyway and never uses it; its weights are ignored on load)
        shared = cfg.key_query_shared_bottleneck and not cfg.bottleneck_attention
        self.attention = BottleneckLayer(*args) if shared else None


class FFNLayer(nn.Module):
    """One of the extra feed-forward networks stacked before the layer's own (no dropout, as transformers)."""

    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.intermediate = Intermediate(cfg.bottleneck_size, shape.intermediate_size, cfg.hidden_act)
        self.output = SelfOutput(shape.intermediate_size, cfg.bottleneck_size, cfg.layer_norm_eps, 0.0,
                                 cfg.normalization)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(x), x)


class Attention(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        inner = cfg.bottleneck_size
        narrow_qk = cfg.bottleneck_attention or cfg.key_query_shared_bottleneck
        self.self = SelfAttention(inner if narrow_qk else cfg.hidden_size, shape, cfg.attention_dropout_prob,
                                  value_width=inner if cfg.bottleneck_attention else cfg.hidden_size)
        self.output = SelfOutput(shape.attention_width, inner, cfg.layer_norm_eps, 0.0, cfg.normalization)


class Output(nn.Module):
    """The layer's own FFN output, then the output bottleneck back to hidden_size."""

    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.dense = nn.Linear(shape.intermediate_size, cfg.bottleneck_size)
        self.LayerNorm = norm(cfg.normalization, cfg.bottleneck_size, TORCH_LAYER_NORM_EPS)
        self.bottleneck = SelfOutput(cfg.bottleneck_size, cfg.hidden_size, cfg.layer_norm_eps,
                                     cfg.hidden_dropout_prob, cfg.normalization)

    def forward(self, x: torch.Tensor, residual: torch.Tensor, layer_input: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(self.LayerNorm(self.dense(x) + residual), layer_input)


class BottleneckTransformerLayer(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.bottleneck = Bottleneck(cfg)
        self.attention = Attention(cfg, shape)
        self.ffn = nn.ModuleList(FFNLayer(cfg, shape) for _ in range(cfg.feedforward_networks - 1))
        self.intermediate = Intermediate(cfg.bottleneck_size, shape.intermediate_size, cfg.hidden_act)
        self.output = Output(cfg, shape)
        self.bottleneck_attention = cfg.bottleneck_attention

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_gate: torch.Tensor | None = None,
                position_bias: torch.Tensor | None = None):
        inner = self.bottleneck.input(x)
        if self.bottleneck_attention:
            qk, value = inner, inner
        else:
            qk = self.bottleneck.attention(x) if self.bottleneck.attention is not None else x
            value = x
        ctx, scores = self.attention.self(qk, additive_mask, head_gate, position_bias, value_input=value)
        h = self.attention.output(ctx, inner)
        for ffn in self.ffn:
            h = ffn(h)
        return self.output(self.intermediate(h), h, x), scores
