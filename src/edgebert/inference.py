"""Batched PyTorch inference shared by head training, evaluation and later gates."""

from __future__ import annotations

import torch

from .data.encoding import Encoded
from .progress import progress


def length_sorted_batches(enc: Encoded, batch_size: int) -> list[torch.Tensor]:
    """Indices grouped by length so each batch can be trimmed to its longest row (~2x faster on CPU)."""
    lengths = enc.attention_mask.sum(1)
    order = torch.argsort(lengths, descending=True, stable=True)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def run_batches(model, enc: Encoded, *, batch_size: int = 64, what: str = "logits", description: str = "inference",
                show_progress: bool | None = None, layer_keep: list[bool] | None = None) -> torch.Tensor:
    """Logits (or pooled features with ``what='pooled'``) in the original order, float32 on the CPU.

    The one batched-inference loop of edgebert: each length-sorted batch is trimmed to its
    longest row and runs on whatever device the model lives on; the model's train/eval mode
    is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    kw = {"layer_keep": layer_keep} if layer_keep is not None else {}
    out: torch.Tensor | None = None
    try:
        with progress(enabled=show_progress) as bar:
            task = bar.add_task(description, total=len(enc))
            for idx in length_sorted_batches(enc, batch_size):
                width = max(1, int(enc.attention_mask[idx].sum(1).max()))
                b = {k: v[:, :width].to(device) for k, v in enc.batch(idx).items()}
                res = model.forward_features(**b, **kw)
                value = (res.logits if what == "logits" else res.pooled).float().cpu()
                if out is None:
                    out = torch.empty((len(enc), value.shape[-1]))
                out[idx] = value
                bar.advance(task, len(idx))
    finally:
        model.train(was_training)
    assert out is not None
    return out
