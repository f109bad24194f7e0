"""LayerNorm written with ops XNNPACK takes, so ExecuTorch runs it inside the delegate.

ExecuTorch 1.4's XNNPACK partitioner has no LayerNorm: every ``native_layer_norm`` runs on
the portable CPU kernels and splits the graph into one delegate segment per layer (two
boundary crossings each). Its ``mean.dim`` takes only the two innermost dims of a 4-D
tensor, so the statistics are taken over [B, T, H, 1] views; sub, mul, add and rsqrt are
all delegated. The result equals ``nn.LayerNorm`` to float32 rounding (tests check it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class XnnpackLayerNorm(nn.Module):
    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        if len(ln.normalized_shape) != 1:
            raise ValueError("only LayerNorm over the last dimension is rewritten")
        self.eps = float(ln.eps)
        self.weight = ln.weight
        self.bias = ln.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x4 = x.reshape(*x.shape, 1)  # [..., H, 1]: mean.dim over the two innermost dims (views are delegated,
        # squeeze/unsqueeze copies are not)
        centred = x4 - x4.mean(dim=(-2, -1), keepdim=True)
        var = (centred * centred).mean(dim=(-2, -1), keepdim=True)
        y = (centred * torch.rsqrt(var + self.eps)).reshape(x.shape)
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y


def with_xnnpack_layernorms(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose LayerNorms over one dimension are :class:`XnnpackLayerNorm`
    (sharing their parameters' values); ``model`` itself is untouched."""
    out = copy.deepcopy(model)
    for name, module in list(out.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.LayerNorm) and len(child.normalized_shape) == 1:
                setattr(module, child_name, XnnpackLayerNorm(child))
    return out
