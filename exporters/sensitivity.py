"""Per-layer int8 sensitivity (the Q-BERT observation: a few layers carry most of the error).

Each candidate module is quantized alone in torch (PT2E, XNNPACK scheme) and scored by the
KL divergence of its logits from the float model on held-out examples. Targets differ in
their int8 kernels, but the ranking of which layers hurt transfers, and measuring it in
torch costs seconds instead of one export per layer per target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edgebert.progress import progress

from .base import INPUT_NAMES
from .pt2e import calibrate_and_convert, quantizable_units, xnnpack_quantizer


@dataclass
class LayerSensitivity:
    module: str
    kl: float
    argmax_agreement: float


@torch.no_grad()
def measure(model, calibration: list[dict], held_out: dict[str, torch.Tensor], args: tuple,
            calib_batches: int = 32) -> list[LayerSensitivity]:
    """Most sensitive first."""
    ref = torch.log_softmax(model(*(held_out[n] for n in INPUT_NAMES)), -1)
    results = []
    mods = quantizable_units(model)
    with progress() as bar:
        task = bar.add_task("int8 sensitivity per layer", total=len(mods))
        for name in mods:
            graph = calibrate_and_convert(model, args, xnnpack_quantizer(only=name, model=model), calibration[:calib_batches])
            rows = [graph(*(held_out[n][i:i + 1] for n in INPUT_NAMES)) for i in range(held_out["input_ids"].shape[0])]
            q = torch.log_softmax(torch.cat(rows), -1)
            kl = torch.nn.functional.kl_div(q, ref, log_target=True, reduction="batchmean").item()
            agree = (q.argmax(1) == ref.argmax(1)).float().mean().item()
            results.append(LayerSensitivity(name, max(kl, 0.0), agree))
            bar.advance(task)
    return sorted(results, key=lambda r: -r.kl)
