"""A labelled CSV for end-to-end `edgebert run` tests (the tiny teacher is tests/conftest.py's)."""

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
def run_data(tmp_path_factory) -> Path:
    return root.write_sentiment_csv(tmp_path_factory.mktemp("rdata") / "sentiment.csv", 160, seed=5)
