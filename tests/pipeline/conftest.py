"""A labelled CSV for end-to-end `edgebert run` tests (the tiny teacher is tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

import builders as root


@pytest.fixture(scope="session")
def run_data(tmp_path_factory) -> Path:
    return root.write_sentiment_csv(tmp_path_factory.mktemp("rdata") / "sentiment.csv", 160, seed=5)
