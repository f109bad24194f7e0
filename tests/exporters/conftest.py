"""A tiny edgebert classifier plus calibration/held-out batches for exporter tests.

The model is the shared fixture (tests/builders.py): trained a few steps on the sentiment
rows, so its logits depend on the words, their order and the attention mask, and both
classes are predicted. A broken export (mask dropped, inputs swapped, constant output)
then cannot pass a parity check.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

SEQ_LEN = 16  # not max_position_embeddings (64): that case adds an `alias` op

_POS = ["great", "good", "wonderful", "brilliant", "moving", "funny", "superb", "charming"]
_NEG = ["bad", "awful", "boring", "dull", "terrible", "weak", "tedious", "messy"]
_FILL = ["the", "film", "movie", "was", "a", "plot", "acting", "and", "very", "is", "story", "it"]


def _rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(_FILL, rng.randint(1, 8)) + [rng.choice(_POS if label == "pos" else _NEG)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


@dataclass
class TinyClassifier:
    model: torch.nn.Module
    model_dir: Path
    seq_len: int
    calibration: list[dict[str, torch.Tensor]]  # [1, seq_len] int64, varied padding
    heldout: list[dict[str, torch.Tensor]]
    labels: list[str] = field(default_factory=lambda: ["neg", "pos"])

    def torch_logits(self, batches=None) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self.model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
                              for b in (batches or self.heldout)])


def _batches(enc) -> list[dict[str, torch.Tensor]]:
    return [{k: v[i:i + 1].clone() for k, v in enc.batch(slice(None)).items()} for i in range(len(enc))]


@pytest.fixture(scope="session")
def tiny_classifier(hf_bert_dir) -> TinyClassifier:
    from edgebert.data import Example, encode, load_tokenizer
    from edgebert.model import load_model

    torch.manual_seed(0)
    model = load_model(hf_bert_dir).eval()
    tok = load_tokenizer(hf_bert_dir)
    calib = encode(tok, [Example(t) for t, _ in _rows(16, seed=2)], SEQ_LEN)
    held = encode(tok, [Example(t) for t, _ in _rows(16, seed=3)], SEQ_LEN)
    with torch.no_grad():
        pred = torch.cat([model(**b).argmax(1) for b in _batches(held)])
    assert 0 < int(pred.sum()) < len(pred), "the fixture must predict both classes"
    return TinyClassifier(model, Path(hf_bert_dir), SEQ_LEN, _batches(calib), _batches(held))


@pytest.fixture(scope="session")
def tiny_export_request(tiny_classifier, tmp_path_factory):
    """Factory: an ExportRequest for the tiny classifier writing into a fresh folder."""
    from edgebert.exporters import ExportRequest

    def make(quantize: str = "none", float_modules=(), **options):
        return ExportRequest(model=tiny_classifier.model, seq_len=tiny_classifier.seq_len, quantize=quantize,
                             calibration=tiny_classifier.calibration, out_dir=tmp_path_factory.mktemp(quantize),
                             float_modules=list(float_modules), options=dict(options))

    return make
