"""Optional FFN-width pruning by the same gate-gradient importance as head pruning.

Each intermediate neuron gets a gate (=1) on its activation; I_n = E|dL/dgate_n|,
normalised per layer; the least important neurons go globally, and the FFN input rows
and output columns are sliced away.
"""

from __future__ import annotations

import torch

from ..data.encoding import Encoded
from ..errors import EdgebertError
from ..model import EdgeBertForSequenceClassification
from .head_pruning import LossFn, slice_linear, choose_heads, gate_gradients, normalise_per_layer


def ffn_importance(model: EdgeBertForSequenceClassification, enc: Encoded, loss_fn: LossFn,
                   batch_size: int = 32, normalize: bool = True) -> list[torch.Tensor]:
    model.eval()
    device = next(model.parameters()).device
    gates = [torch.ones(l.intermediate_size, device=device, requires_grad=True) for l in model.config.layers]
    hooks = [layer.intermediate.register_forward_hook(lambda _m, _i, out, g=g: out * g)
             for layer, g in zip(model.encoder.layer, gates)]
    try:
        scores = gate_gradients(model, enc, loss_fn, gates, "FFN importance", batch_size)
    finally:
        for h in hooks:
            h.remove()
    return normalise_per_layer(scores) if normalize else scores


def choose_neurons(importance: list[torch.Tensor], n_prune: int, min_per_layer: int = 1) -> dict[int, list[int]]:
    return choose_heads(importance, n_prune, min_per_layer)


def prune_ffn(model: EdgeBertForSequenceClassification, neurons: dict[int, list[int]]) -> EdgeBertForSequenceClassification:
    """Remove ``{layer: [neuron, ...]}`` in place; provenance ``ffn_widths`` records the original widths."""
    prov = model.config.provenance
    prov.setdefault("ffn_widths_before_pruning", [l.intermediate_size for l in model.config.layers])
    for i, drop in neurons.items():
        shape = model.config.layers[i]
        dropped = set(drop)
        keep = [n for n in range(shape.intermediate_size) if n not in dropped]
        if not keep:
            raise EdgebertError(f"pruning would remove the whole FFN of layer {i}", "keep at least one neuron")
        layer = model.encoder.layer[i]
        index = torch.tensor(keep, device=layer.intermediate.dense.weight.device)
        layer.intermediate.dense = slice_linear(layer.intermediate.dense, index, 0)
        layer.output.dense = slice_linear(layer.output.dense, index, 1)
        shape.intermediate_size = len(keep)
    return model
