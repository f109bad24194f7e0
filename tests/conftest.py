"""Tiny random BERT checkpoints and data files built in-process (no downloads)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSITIVE = ["great", "good", "wonderful", "brilliant", "moving", "funny", "superb", "charming"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "weak", "tedious", "messy"]
FILLER = ["the", "film", "movie", "was", "a", "plot", "acting", "and", "very", "is", "story", "it"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocab() -> list[str]:
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    return SPECIAL + POSITIVE + NEGATIVE + FILLER + chars + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]


def write_tokenizer(path: Path) -> None:
    from transformers import BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(tiny_vocab()) + "\n")
    BertTokenizerFast(vocab=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(str(path))


def make_hf_bert(path: Path, *, head: bool = True, num_labels: int = 2, layers: int = 2, seed: int = 0,
                 id2label: dict | None = None) -> Path:
    """Save a tiny random BertForSequenceClassification (or BertModel) with a tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    kw = {}
    if id2label:
        kw = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
    cfg = BertConfig(vocab_size=len(tiny_vocab()), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=64, num_labels=num_labels, **kw)
    model = (BertForSequenceClassification(cfg) if head else BertModel(cfg)).eval()
    model.save_pretrained(str(path))
    write_tokenizer(path)
    return path


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


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


def write_sentiment_csv(path: Path, n: int, seed: int = 0) -> Path:
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(sentiment_rows(n, seed=seed))
    return path


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
