"""LayerDrop (Fan et al., 2019): drop whole layers at random while training.

A model trained this way tolerates losing layers at inference, which is what lets layer
selection cut depth afterwards with little loss (the triple-compressed seed: p=0.2, then
keep layers 1,2,3,5 of 6). The drop pattern of a step depends only on (seed, step), so a
resumed run draws the same pattern as an uninterrupted one.
"""

from __future__ import annotations

import torch


def layer_keep_mask(num_layers: int, p: float, seed: int, step: int) -> list[bool]:
    """Keep each layer with probability 1-p; never drop every layer."""
    if p <= 0:
        return [True] * num_layers
    gen = torch.Generator().manual_seed(_mix(seed, step))
    keep = (torch.rand(num_layers, generator=gen) >= p).tolist()
    if not any(keep):
        keep[int(torch.randint(num_layers, (1,), generator=gen))] = True
    return [bool(k) for k in keep]


def _mix(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919 + 12345) % (2**63 - 1)
