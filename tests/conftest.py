"""Shared fixtures: tiny BERT checkpoints and data files (built by tests/builders.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builders import make_hf_bert, sentiment_rows, write_sentiment_csv

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def make_bert():
    """Factory for tiny HF BERT folders with custom shapes."""
    return make_hf_bert


@pytest.fixture(scope="session")
def hf_bert_dir(tmp_path_factory) -> Path:
    return make_hf_bert(tmp_path_factory.mktemp("hf_bert"), id2label={0: "neg", 1: "pos"})


@pytest.fixture(scope="session")
def hf_encoder_dir(tmp_path_factory) -> Path:
    return make_hf_bert(tmp_path_factory.mktemp("hf_encoder"), head=False)


@pytest.fixture(scope="session")
def sentiment_csv(tmp_path_factory) -> Path:
    return write_sentiment_csv(tmp_path_factory.mktemp("data") / "sentiment.csv", 200)


@pytest.fixture(scope="session")
def export_inputs(hf_bert_dir):
    """A tiny classifier plus real-token calibration batches at seq len 32 (with padding)."""
    from edgebert.data import Example, encode, load_tokenizer
    from edgebert.model import load_model

    model = load_model(hf_bert_dir)
    tok = load_tokenizer(hf_bert_dir)
    rows = sentiment_rows(24, seed=5)
    enc = encode(tok, [Example(t, l) for t, l in rows], 32, ["neg", "pos"])
    batches = [{n: getattr(enc, n)[i:i + 1] for n in ("input_ids", "attention_mask", "token_type_ids")}
               for i in range(len(enc))]
    return model, batches


@pytest.fixture
def export_request(export_inputs, tmp_path):
    """Factory: ExportRequest for the tiny model into a fresh folder."""
    from edgebert.exporters import ExportRequest

    model, batches = export_inputs

    def make(quantize="none", float_modules=(), calibration=None):
        out = tmp_path / f"art-{quantize}-{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        return ExportRequest(model, 32, quantize, batches[:16] if calibration is None else calibration, out,
                             float_modules=list(float_modules))

    return make


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory) -> Path:
    """A 4-layer, 4-head, hidden-32 edgebert teacher folder (random weights, trained head flag set)."""
    from edgebert.model import load_model, save_checkpoint

    hf = make_hf_bert(tmp_path_factory.mktemp("hf4"), layers=4, seed=1, id2label={0: "neg", 1: "pos"})
    model = load_model(hf)
    out = tmp_path_factory.mktemp("teacher") / "t"
    save_checkpoint(model, out, tokenizer_from=hf)
    return out
