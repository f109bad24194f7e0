"""Tiny teachers, data and GloVe tables for the compression tests (all built in-process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

# Tiny models on a shared 2-core machine: one thread avoids OpenMP spin contention (10x faster here).
torch.set_num_threads(1)

import builders as root


@pytest.fixture(scope="session")
def data_csv(tmp_path_factory) -> Path:
    return root.write_sentiment_csv(tmp_path_factory.mktemp("cdata") / "sentiment.csv", 120, seed=3)


@pytest.fixture(scope="session")
def labelled(data_csv):
    from edgebert.data import Columns, load_labelled

    return load_labelled(data_csv, Columns(), label_names=["neg", "pos"])


@pytest.fixture()
def tiny_model():
    """A fresh tiny edgebert model: 2 layers, 4 heads of 8, hidden 32."""
    from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification

    torch.manual_seed(0)
    cfg = EdgeBertConfig.uniform(vocab_size=len(root.tiny_vocab()), hidden_size=32, num_layers=2, num_heads=4,
                                 intermediate_size=48, max_position_embeddings=64, label_names=["neg", "pos"])
    model = EdgeBertForSequenceClassification(cfg).eval()
    with torch.no_grad():  # larger than BERT's 0.02 init so every unit visibly matters
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(std=0.3)
    return model


@pytest.fixture(scope="session")
def tokenizer(teacher_dir):
    from edgebert.data import load_tokenizer

    return load_tokenizer(teacher_dir)


@pytest.fixture(scope="session")
def enc(tokenizer):
    """24 labelled sentences encoded to 16 tokens (with padding)."""
    from edgebert.data import Example, encode

    rows = root.sentiment_rows(24, seed=0)
    return encode(tokenizer, [Example(t, l) for t, l in rows], 16, ["neg", "pos"])


WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "film", "show", "the", ",", "123"]


@pytest.fixture(scope="session")
def glove_dir(tmp_path_factory) -> Path:
    return write_glove(tmp_path_factory.mktemp("glove"))


def write_glove(folder: Path) -> Path:
    """A 12-word GloVe table with three tight clusters (positive, negative, medium) plus junk."""
    import pandas as pd

    rng = np.random.default_rng(0)
    centres = {"pos": rng.normal(size=8), "neg": rng.normal(size=8), "med": rng.normal(size=8)}
    groups = {"good": "pos", "great": "pos", "fine": "pos", "bad": "neg", "awful": "neg", "poor": "neg",
              "movie": "med", "film": "med", "show": "med"}
    vecs = []
    for w in WORDS:
        base = centres[groups[w]] if w in groups else rng.normal(size=8) * 3
        vecs.append(base + rng.normal(size=8) * 0.05)
    # "," sits right next to "good": a non-word must never be offered as a replacement
    vecs[WORDS.index(",")] = vecs[0] + 0.001
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "glove_6B_50d_emb.npy", np.asarray(vecs, dtype=np.float32))
    pd.DataFrame({"index": WORDS}).to_parquet(folder / "glove_6B_index.parquet")
    return folder
