"""Tiny gated bundles (onnx fp32/int8, tflite fp32, executorch fp32) shared by the device tests.

They come from the tiny random BERT of tests/conftest.py through the real export pipeline, so
the harness reads the same metadata.json a user's bundle has (source checkpoint, calibration
source, gates) and can auto-export the teacher the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SEQ_LEN = 16


@pytest.fixture(scope="session")
def tiny_bundles(hf_bert_dir, sentiment_csv, tmp_path_factory) -> dict[str, Path]:
    from edgebert.data import load_labelled
    from edgebert.exporters.export import ExportOptions, export_model

    data = load_labelled(sentiment_csv, label_names=["neg", "pos"])
    out = tmp_path_factory.mktemp("bundles")
    found = {}
    for targets, quantize in ((["onnx", "tflite", "executorch"], "none"), (["onnx"], "int8")):
        opts = ExportOptions(targets, quantize, seq_len=SEQ_LEN, calib_size=8, eval_limit=16)
        for res in export_model(hf_bert_dir, data, out, opts):
            assert res.passed, res.metadata["rejected_because"]
            found[res.path.name] = res.path
    return found


@pytest.fixture
def quick():
    """Settings that keep each measurement well under a second."""
    from edgebert.devices.settings import BenchSettings

    return BenchSettings(runs=3, min_seconds=0.0, warmup=1, threads=1, timeout=120)
