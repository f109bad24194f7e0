"""Model configuration with per-layer shapes and the options that tell encoder families apart.

A pruned student has a different number of heads and FFN width in every layer, and a
Hugging Face ``BertConfig`` cannot say that, so edgebert keeps its own config and
records where each kept layer and head came from (provenance). What distinguishes
DistilBERT, RoBERTa, ELECTRA, ALBERT, MPNet or MobileBERT from BERT is a handful of options
here (position offset, token types, embedding width and projection, relative attention bias,
shared layers, normalisation, bottleneck layers, classification head), set by each family's adapter in ``model/families``; the modeling
code reads the options, never the family's name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
POOLINGS = ("cls", "mean")
HEAD_ACTIVATIONS = ("relu", "tanh", "gelu")
NORMALIZATIONS = ("layer_norm", "no_norm")
EMBEDDING_PROJECTIONS = ("sum", "words")


@dataclass
class LayerShape:
    num_heads: int
    head_dim: int
    intermediate_size: int

    @property
    def attention_width(self) -> int:
        return self.num_heads * self.head_dim


@dataclass
class EdgeBertConfig:
    vocab_size: int
    hidden_size: int
    layers: list[LayerShape]
    num_labels: int = 2
    label_names: list[str] = field(default_factory=list)
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    pooling: str = "cls"
    hidden_dropout_prob: float = 0.1
    attention_dropout_prob: float = 0.1
    provenance: dict[str, Any] = field(default_factory=dict)
    family: str = "bert"  # where the weights came from (reported; the code reads the options below)
    position_offset: int = 0  # RoBERTa/MPNet: position ids start after padding_idx (padding_idx + 1)
    embedding_size: int | None = None  # ELECTRA/ALBERT: narrower embeddings, then a projection to hidden_size
    relative_attention_buckets: int = 0  # MPNet: a relative position bias shared by all layers (0: none)
    relative_attention_max_distance: int = 128
    shared_layers: bool = False  # ALBERT: one layer's weights applied at every depth
    # a dense layer + this activation between the pooled vector and the classifier (DistilBERT
    # relu, RoBERTa/MPNet tanh, ELECTRA gelu); None: BERT's pooler (cls) or the classifier alone
    head_activation: str | None = None
    cls_pooler: bool = True  # False: [CLS] goes straight to the classifier (MobileBERT's classifier_activation off)
    normalization: str = "layer_norm"  # MobileBERT "no_norm": an elementwise affine wherever LayerNorm would be
    # where embedding_size is projected to hidden_size: "sum" (ELECTRA/ALBERT: the normalised sum of word,
    # position and type embeddings) or "words" (MobileBERT: word embeddings alone, before hidden-wide positions)
    embedding_projection: str = "sum"
    trigram_input: bool = False  # MobileBERT: project each word embedding beside its two neighbours ("words" only)
    # MobileBERT: layers work inside at this width between an input and an output bottleneck (None: BERT layers);
    # head_dim * num_heads and intermediate_size are then widths inside the bottleneck
    bottleneck_size: int | None = None
    key_query_shared_bottleneck: bool = False  # a second bottleneck feeds query and key; value reads the input
    bottleneck_attention: bool = False  # query, key and value all read the input bottleneck
    feedforward_networks: int = 1  # FFNs per layer, all intermediate_size wide (MobileBERT stacks 4)

    def __post_init__(self) -> None:
        self.layers = [l if isinstance(l, LayerShape) else LayerShape(**l) for l in self.layers]
        if not self.label_names:
            self.label_names = [f"LABEL_{i}" for i in range(self.num_labels)]
        if len(self.label_names) != self.num_labels:
            raise CheckpointError(
                f"config has {self.num_labels} labels but {len(self.label_names)} label names",
                "make num_labels match label_names",
            )
        if self.hidden_act not in ACTIVATIONS:
            raise CheckpointError(
                f"unsupported activation '{self.hidden_act}'", f"use one of {', '.join(ACTIVATIONS)}"
            )
        if self.pooling not in POOLINGS:
            raise CheckpointError(f"unsupported pooling '{self.pooling}'", f"use one of {', '.join(POOLINGS)}")
        if self.head_activation is not None and self.head_activation not in HEAD_ACTIVATIONS:
            raise CheckpointError(f"unsupported head activation '{self.head_activation}'",
                                  f"use one of {', '.join(HEAD_ACTIVATIONS)}")
        self._check_mobilebert_options()
        if self.shared_layers and len({(l.num_heads, l.head_dim, l.intermediate_size) for l in self.layers}) > 1:
            raise CheckpointError("shared layers must all have the same shape", "a pruned layer cannot be shared")
        if self.type_vocab_size < 0 or self.position_offset < 0:
            raise CheckpointError("type_vocab_size and position_offset must be 0 or more", "fix edgebert.json")
        for i, layer in enumerate(self.layers):
            if layer.num_heads < 1:
                raise CheckpointError(f"layer {i} has no attention heads", "keep at least one head per layer")

    def _check_mobilebert_options(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            raise CheckpointError(f"unsupported normalization '{self.normalization}'",
                                  f"use one of {', '.join(NORMALIZATIONS)}")
        if self.embedding_projection not in EMBEDDING_PROJECTIONS:
            raise CheckpointError(f"unsupported embedding_projection '{self.embedding_projection}'",
                                  f"use one of {', '.join(EMBEDDING_PROJECTIONS)}")
        if self.trigram_input and self.embedding_projection != "words":
            raise CheckpointError("trigram_input needs embedding_projection 'words'", "fix edgebert.json")
        if self.feedforward_networks < 1:
            raise CheckpointError("feedforward_networks must be 1 or more", "fix edgebert.json")
        needs = [n for n in ("key_query_shared_bottleneck", "bottleneck_attention") if getattr(self, n)]
        if self.feedforward_networks > 1:
            needs.append("feedforward_networks > 1")
        if needs and not self.bottleneck_size:
            raise CheckpointError(f"{needs[0]} needs bottleneck layers (bottleneck_size)", "fix edgebert.json")

    @classmethod
    def uniform(
        cls, *, vocab_size: int, hidden_size: int, num_layers: int, num_heads: int, intermediate_size: int, **kw: Any
    ) -> "EdgeBertConfig":
        if hidden_size % num_heads:
            raise CheckpointError(
                f"hidden size {hidden_size} is not divisible by {num_heads} heads", "pick a head count that divides it"
            )
        shape = LayerShape(num_heads, hidden_size // num_heads, intermediate_size)
        return cls(vocab_size=vocab_size, hidden_size=hidden_size,
                   layers=[dataclasses.replace(shape) for _ in range(num_layers)], **kw)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def max_seq_len(self) -> int:
        """Longest input the position embeddings allow (RoBERTa's 514 rows hold 512 positions)."""
        return self.max_position_embeddings - self.position_offset

    @property
    def uses_pooler(self) -> bool:
        return self.pooling == "cls" and self.head_activation is None and self.cls_pooler

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EdgeBertConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckpointError(f"unknown key(s) in edgebert config: {', '.join(unknown)}",
                                  "the checkpoint was written by a newer edgebert; upgrade edgebert")
        try:
            return cls(**data)
        except TypeError as exc:
            raise CheckpointError(f"invalid edgebert config: {exc}", "re-save the checkpoint with edgebert") from None
