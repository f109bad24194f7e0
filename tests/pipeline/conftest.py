"""A tiny teacher and labelled CSV for end-to-end `edgebert run` tests (built in-process)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).parents[1] / "conftest.py")
root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(root)


@pytest.fixture(scope="session")
def run_teacher(tmp_path_factory) -> Path:
    from edgebert.model import load_model, save_checkpoint

    hf = root.make_hf_bert(tmp_path_factory.mktemp("hf4"), layers=4, seed=1, id2label={0: "neg", 1: "pos"})
    out = tmp_path_factory.mktemp("teacher") / "t"
    save_checkpoint(load_model(hf), out, tokenizer_from=hf)
    return out


@pytest.fixture(scope="session")
def run_data(tmp_path_factory) -> Path:
    return root.write_sentiment_csv(tmp_path_factory.mktemp("rdata") / "sentiment.csv", 160, seed=5)
