"""Choose which layers a (LayerDrop-trained) model keeps: every other, an explicit list, or greedy on dev.

Selection physically rebuilds the model with only the kept layers, so parameters, size
and latency really fall; provenance ``kept_layers`` keeps the original layer ids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.encoding import Encoded
from ..errors import EdgebertError
from ..model import EdgeBertForSequenceClassification
from ..progress import progress
from ..inference import run_batches
from .student import copy_layers

METHODS = ("keep", "every_other", "greedy")


def every_other(num_layers: int) -> list[int]:
    """Fan et al.'s 'every other' rule at p=0.5: keep 1-based layers 1,3,5,... (0-based 0,2,4,...)."""
    return list(range(0, num_layers, 2))


def select_layers(model: EdgeBertForSequenceClassification, keep: list[int]) -> EdgeBertForSequenceClassification:
    """A new model holding exactly ``keep`` (0-based, current numbering), in increasing order."""
    if sorted(set(keep)) != list(keep):
        raise EdgebertError(f"keep list {keep} must be increasing without repeats", "e.g. keep: [0, 1, 2, 4]")
    return copy_layers(model, list(keep))


def _score(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Higher is better: (accuracy, -CE) so ties in accuracy go to the lower loss."""
    acc = float((logits.argmax(1) == labels).float().mean())
    return acc, -float(F.cross_entropy(logits, labels))


def greedy_selection(model: EdgeBertForSequenceClassification, dev: Encoded, target_layers: int,
                     batch_size: int = 64) -> tuple[list[int], list[dict]]:
    """Drop layers one at a time, each time the one whose removal hurts dev accuracy least.

    Returns the kept layers and the search trace (what each drop scored) for the report.
    """
    n = model.num_layers
    if not 1 <= target_layers <= n:
        raise EdgebertError(f"target_layers {target_layers} is outside 1..{n}", f"pick a depth between 1 and {n}")
    if dev.labels is None:
        raise EdgebertError("greedy layer selection needs labelled dev data", "use keep: [...] instead")
    kept = list(range(n))
    trace: list[dict] = []
    with progress() as bar:
        task = bar.add_task(f"greedy layer search {n}->{target_layers}", total=sum(range(target_layers + 1, n + 1)))
        while len(kept) > target_layers:
            best = None
            for layer in kept:
                trial = [i in kept and i != layer for i in range(n)]
                score = _score(run_batches(model, dev, batch_size=batch_size, layer_keep=trial, show_progress=False),
                               dev.labels)
                bar.advance(task)
                if best is None or score > best[0]:
                    best = (score, layer)
            assert best is not None
            kept.remove(best[1])
            trace.append({"dropped": best[1], "dev_accuracy": round(best[0][0], 4), "kept": list(kept)})
    return kept, trace
