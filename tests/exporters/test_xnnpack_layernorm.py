"""The delegatable LayerNorm equals torch's, and the rewrite leaves the caller's model alone."""

import torch
from torch import nn

from edgebert.exporters.xnnpack_layernorm import XnnpackLayerNorm, with_xnnpack_layernorms


def test_equals_layernorm_and_copies():
    torch.manual_seed(0)
    ln = nn.LayerNorm(24, eps=1e-12)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2.0)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(2, 7, 24) * 5 + 3  # off-centre, wide: the mean and variance matter
    assert torch.allclose(XnnpackLayerNorm(ln)(x), ln(x), atol=1e-5)
    model = nn.Sequential(nn.Linear(24, 24), ln)
    rewritten = with_xnnpack_layernorms(model)
    assert isinstance(rewritten[1], XnnpackLayerNorm) and isinstance(model[1], nn.LayerNorm)
    assert torch.allclose(rewritten(x), model(x), atol=1e-5)
