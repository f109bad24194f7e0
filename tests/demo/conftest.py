"""Tiny ONNX and TFLite bundles, and the real browser, for the web demo tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def browser_ready() -> str | None:
    """Why the real-browser tests cannot run here (None: they can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(os.environ.get("EDGEBERT_CHROMIUM", "/usr/bin/chromium")).exists():
        return "Debian chromium is not installed"
    if not (ROOT / "demo_app" / "node_modules" / "playwright-core").is_dir():
        return "demo_app/node_modules is missing (npm ci in demo_app)"
    return None


@pytest.fixture(scope="session")
def need_browser():
    why = browser_ready()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def tiny_bundles(hf_bert_dir, sentiment_csv, tmp_path_factory):
    """target -> a passed fp32 bundle of the tiny classifier (seq len 32)."""
    from edgebert.data import Columns, load_labelled
    from edgebert.exporters.pipeline import ExportOptions, export_model

    data = load_labelled(sentiment_csv, Columns(), label_names=["neg", "pos"])
    out = tmp_path_factory.mktemp("bundles")
    results = export_model(hf_bert_dir, data, out, ExportOptions(["onnx", "tflite"], seq_len=32, calib_size=4,
                                                                 eval_limit=16))
    assert all(r.passed for r in results)
    return {r.target: r.path for r in results}
