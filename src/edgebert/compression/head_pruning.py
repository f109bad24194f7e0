"""Head pruning (Michel et al., 2019): score heads by gate gradients, then physically remove them.

Each head h gets a gate xi_h (=1) multiplying its attention output; its importance is
I_h = E|dL/dxi_h| over a data sample, normalised per layer (L2) so layers compare
fairly. The least important heads are pruned globally, at least one kept per layer, and
their Q/K/V rows and output-projection columns are sliced away, so the saved model is
really smaller. Provenance ``kept_heads`` keeps the original teacher head ids.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..data.encoding import Encoded
from ..errors import EdgebertError
from ..model import EdgeBertForSequenceClassification
from ..progress import progress

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, example indices) -> scalar


def gate_gradients(model: EdgeBertForSequenceClassification, enc: Encoded, loss_fn: LossFn,
                   gates: list[torch.Tensor], description: str, batch_size: int = 32,
                   **forward_kwargs) -> list[torch.Tensor]:
    """Per layer, the sum over batches of |dL/dgate| (heads and FFN neurons both score this way)."""
    device = gates[0].device
    scores = [torch.zeros(len(g)) for g in gates]
    with progress() as bar:
        task = bar.add_task(description, total=len(enc))
        for start in range(0, len(enc), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(enc)))
            width = int(enc.attention_mask[idx].sum(1).max())
            b = {k: v[:, :width].to(device) for k, v in enc.batch(idx).items()}
            logits = model.forward_features(**b, **forward_kwargs).logits
            grads = torch.autograd.grad(loss_fn(logits, idx), gates, allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    scores[i] += g.detach().abs().cpu()
            bar.advance(task, len(idx))
    return scores


def normalise_per_layer(scores: list[torch.Tensor]) -> list[torch.Tensor]:
    """L2 per layer, so layers compare fairly in a global ranking (Michel et al.)."""
    return [s / n if (n := s.norm()) > 0 else s for s in scores]


def head_importance(model: EdgeBertForSequenceClassification, enc: Encoded, loss_fn: LossFn,
                    batch_size: int = 32, normalize: bool = True) -> list[torch.Tensor]:
    """Per layer, a [heads] tensor of E|dL/dxi_h| (eval mode, so it is deterministic)."""
    model.eval()
    device = next(model.parameters()).device
    gates = [torch.ones(l.num_heads, device=device, requires_grad=True) for l in model.config.layers]
    scores = gate_gradients(model, enc, loss_fn, gates, "head importance", batch_size, head_gates=gates)
    batches = max(1, -(-len(enc) // batch_size))
    scores = [s / batches for s in scores]
    return normalise_per_layer(scores) if normalize else scores


def choose_heads(importance: list[torch.Tensor], n_prune: int, min_per_layer: int = 1) -> dict[int, list[int]]:
    """The ``n_prune`` globally least important heads, never leaving a layer below ``min_per_layer``."""
    remaining = [len(s) for s in importance]
    ranked = sorted((float(s[h]), layer, h) for layer, s in enumerate(importance) for h in range(len(s)))
    chosen: dict[int, list[int]] = {}
    for _, layer, h in ranked:
        if n_prune <= 0:
            break
        if remaining[layer] > min_per_layer:
            chosen.setdefault(layer, []).append(h)
            remaining[layer] -= 1
            n_prune -= 1
    return {k: sorted(v) for k, v in sorted(chosen.items())}


def slice_linear(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A smaller copy of ``layer`` keeping output rows (dim 0) or input columns (dim 1)."""
    w = layer.weight.detach().index_select(dim, index).clone()
    bias = layer.bias is not None
    new = nn.Linear(w.shape[1], w.shape[0], bias=bias, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if bias:
            new.bias.copy_(layer.bias.detach() if dim == 1 else layer.bias.detach().index_select(0, index))
    new.weight.requires_grad_(layer.weight.requires_grad)
    if bias:
        new.bias.requires_grad_(layer.bias.requires_grad)
    return new


def prune_heads(model: EdgeBertForSequenceClassification, heads: dict[int, list[int]]) -> EdgeBertForSequenceClassification:
    """Remove ``{layer: [head, ...]}`` (current numbering) in place; returns the model."""
    prov = model.config.provenance
    kept_heads = prov.get("kept_heads") or [list(range(l.num_heads)) for l in model.config.layers]
    for i, drop in heads.items():
        if not drop:
            continue
        shape = model.config.layers[i]
        keep = [h for h in range(shape.num_heads) if h not in set(drop)]
        if not keep:
            raise EdgebertError(f"pruning would remove every head of layer {i}", "keep at least one head per layer")
        d = shape.head_dim
        index = torch.cat([torch.arange(h * d, (h + 1) * d) for h in keep])
        att = model.encoder.layer[i].attention
        index = index.to(att.self.query.weight.device)
        att.self.query = slice_linear(att.self.query, index, 0)
        att.self.key = slice_linear(att.self.key, index, 0)
        att.self.value = slice_linear(att.self.value, index, 0)
        att.output.dense = slice_linear(att.output.dense, index, 1)
        att.self.num_heads = len(keep)
        shape.num_heads = len(keep)
        kept_heads[i] = [kept_heads[i][h] for h in keep]
    prov["kept_heads"] = kept_heads
    return model


def heads_to_prune(total: int, fraction: float | None, target_heads: int | None, num_layers: int) -> int:
    """How many heads a fraction / target count means, capped so each layer keeps one."""
    n = round(total * fraction) if fraction is not None else total - int(target_heads or total)
    return max(0, min(n, total - num_layers))
