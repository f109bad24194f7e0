"""A compact post-LayerNorm transformer encoder + classifier that exports to every mobile runtime.

Why not the ``transformers`` classes: their mask code breaks PT2E calibration and CoreML
conversion, and they cannot hold per-layer head counts. This module builds its own additive
mask, computes attention explicitly (so distillation can read pre-softmax scores), and keeps
a plain ``forward(input_ids, attention_mask, token_type_ids) -> logits`` signature that
``torch.export`` traces without graph breaks. One module serves BERT, DistilBERT, RoBERTa /
XLM-R, ELECTRA, ALBERT, MPNet and MobileBERT: what differs is read from :class:`EdgeBertConfig`
options (position offset, token types, embedding projection, relative attention bias, shared
layers, normalisation, bottleneck layers from ``mobilebert_blocks``, classification head).
Parameter names follow Hugging Face's BERT, so each family's weights map onto it by renaming
(``model/families``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .blocks import Intermediate, SelfAttention, SelfOutput, activation, norm
from .config import EdgeBertConfig, LayerShape
from .mobilebert_blocks import BottleneckTransformerLayer, WordProjectedEmbeddings

# Large enough to zero a softmax term, small enough to stay finite in fp16 (CoreML).
MASK_VALUE = -10000.0


def relative_position_buckets(length: int, num_buckets: int, max_distance: int) -> torch.Tensor:
    """[length, length] bucket of each (query, key) pair, as MPNet (after T5) defines it:
    half the buckets per direction, exact up to a distance, then logarithmic to max_distance."""
    context = torch.arange(length, dtype=torch.long)[:, None]
    memory = torch.arange(length, dtype=torch.long)[None, :]
    n = -(memory - context)
    half = num_buckets // 2
    ret = (n < 0).to(torch.long) * half
    n = torch.abs(n)
    max_exact = half // 2
    large = max_exact + (torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
                         * (half - max_exact)).to(torch.long)
    large = torch.clamp(large, max=half - 1)
    return ret + torch.where(n < max_exact, n, large)


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
        width = cfg.embedding_size or cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, width, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, width)
        # DistilBERT and MPNet have no token types; their input is still accepted (and unused)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, width) if cfg.type_vocab_size else None
        self.LayerNorm = norm(cfg.normalization, width, cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.projection = nn.Linear(width, cfg.hidden_size) if width != cfg.hidden_size else None
        self.position_offset = cfg.position_offset

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        # Slicing the weight instead of indexing with arange keeps the graph free of integer
        # buffers, which PT2E observers and CoreML both dislike. RoBERTa-style models number
        # real tokens from padding_idx + 1; padding positions differ from Hugging Face's, which
        # changes nothing a real token sees (padding is masked out of every attention).
        start = self.position_offset
        positions = self.position_embeddings.weight[start:start + seq_len].unsqueeze(0)
        x = self.word_embeddings(input_ids) + positions
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        x = self.dropout(self.LayerNorm(x))
        return self.projection(x) if self.projection is not None else x


class Attention(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.self = SelfAttention(cfg.hidden_size, shape, cfg.attention_dropout_prob)
        self.output = SelfOutput(shape.attention_width, cfg.hidden_size, cfg.layer_norm_eps, cfg.hidden_dropout_prob,
                                 cfg.normalization)


class Layer(nn.Module):
    def __init__(self, cfg: EdgeBertConfig, shape: LayerShape):
        super().__init__()
        self.attention = Attention(cfg, shape)
        self.intermediate = Intermediate(cfg.hidden_size, shape.intermediate_size, cfg.hidden_act)
        self.output = SelfOutput(shape.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.hidden_dropout_prob,
                                 cfg.normalization)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_gate: torch.Tensor | None = None,
                position_bias: torch.Tensor | None = None):
        ctx, scores = self.attention.self(x, additive_mask, head_gate, position_bias)
        x = self.attention.output(ctx, x)
        return self.output(self.intermediate(x), x), scores


class Encoder(nn.Module):
    def __init__(self, cfg: EdgeBertConfig):
        super().__init__()
        # ALBERT: one set of layer weights applied at every depth (stored once)
        self.depth = cfg.num_layers
        kind = BottleneckTransformerLayer if cfg.bottleneck_size else Layer  # MobileBERT: bottleneck layers
        self.layer = nn.ModuleList(kind(cfg, s) for s in (cfg.layers[:1] if cfg.shared_layers else cfg.layers))
        self.shared = cfg.shared_layers
        self.relative_attention_bias = None
        if cfg.relative_attention_buckets:
            heads = {l.num_heads for l in cfg.layers}
            if len(heads) != 1:
                raise ValueError("a shared relative attention bias needs the same head count in every layer")
            self.relative_attention_bias = nn.Embedding(cfg.relative_attention_buckets, heads.pop())
            # bucket of every (query, key) pair up to the longest input: small ints, int8 in the artifact
            buckets = relative_position_buckets(cfg.max_seq_len, cfg.relative_attention_buckets,
                                                cfg.relative_attention_max_distance)
            self.register_buffer("relative_buckets", buckets.to(torch.int8), persistent=False)

    def layers(self) -> list[nn.Module]:
        """The layer applied at each depth (the same module at every depth when shared)."""
        return [self.layer[0]] * self.depth if self.shared else list(self.layer)

    def position_bias(self, seq_len: int) -> torch.Tensor | None:
        """[1, heads, T, T] relative position bias added to every layer's scores (MPNet), or None."""
        if self.relative_attention_bias is None:
            return None
        idx = self.relative_buckets[:seq_len, :seq_len].to(torch.long)
        return self.relative_attention_bias(idx).permute(2, 0, 1).unsqueeze(0)


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
        # MobileBERT projects the (trigram) word embeddings alone, before positions are added
        self.embeddings = (WordProjectedEmbeddings if config.embedding_projection == "words" else Embeddings)(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config.hidden_size) if config.uses_pooler else None
        # DistilBERT / RoBERTa / ELECTRA / MPNet heads: a dense layer + activation before the classifier
        self.pre_classifier = nn.Linear(config.hidden_size, config.hidden_size) if config.head_activation else None
        self.head_activation = activation(config.head_activation) if config.head_activation else None
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
        return self.config.num_layers

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
        bias = self.encoder.position_bias(input_ids.shape[1])
        hidden_states = [x] if output_hidden_states else []
        scores_out = []
        for i, layer in enumerate(self.encoder.layers()):
            if layer_keep is not None and not layer_keep[i]:
                continue  # LayerDrop: the whole layer is skipped this step
            x, scores = layer(x, additive, None if head_gates is None else head_gates[i], bias)
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
        elif self.config.pooling == "cls":
            pooled = x[:, 0]
        else:
            weights = mask.unsqueeze(-1)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return pooled, self.classify_pooled(pooled)

    def classify_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """The head alone, on pooled features (a teacher's head is fitted on cached ones)."""
        h = self.head_activation(self.pre_classifier(pooled)) if self.pre_classifier is not None else pooled
        return self.classifier(self.dropout(h))

    def forward_from_layer(self, x: torch.Tensor, attention_mask: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the hidden states entering layer ``start`` (lets callers cache lower layers)."""
        mask = attention_mask.to(torch.float32)
        additive = additive_mask(mask)
        bias = self.encoder.position_bias(x.shape[1])
        for layer in self.encoder.layers()[start:]:
            x, _ = layer(x, additive, None, bias)
        return self.classify(x, mask)[1]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
