"""Model configuration with per-layer shapes and the options that tell encoder families apart.

A pruned student has a different number of heads and FFN width in every layer, and a
Hugging Face ``BertConfig`` cannot say that, so edgebert keeps its own config and
records where each kept layer and head came from (provenance). What distinguishes
DistilBERT, RoBERTa, ELECTRA, ALBERT or MPNet from BERT is a handful of options here
(position offset, token types, embedding width, relative attention bias, shared layers,
classification head), set by each family's adapter in ``model/families``; the modeling
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
        if self.shared_layers and len({(l.num_heads, l.head_dim, l.intermediate_size) for l in self.layers}) > 1:
            raise CheckpointError("shared layers must all have the same shape", "a pruned layer cannot be shared")
        if self.type_vocab_size < 0 or self.position_offset < 0:
            raise CheckpointError("type_vocab_size and position_offset must be 0 or more", "fix edgebert.json")
        for i, layer in enumerate(self.layers):
            if layer.num_heads < 1:
                raise CheckpointError(f"layer {i} has no attention heads", "keep at least one head per layer")

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
        return self.pooling == "cls" and self.head_activation is None

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
