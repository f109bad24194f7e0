"""Bundles and stand-ins shared by the device, demo and CLI tests (a plug-in of the repo-root
conftest.py, so every test folder sees the same fixtures).

``tiny_bundles`` come from the tiny BERT of tests/conftest.py through the real export
pipeline, so the harness reads the same metadata.json a user's bundle has (source checkpoint,
calibration source, gates) and can auto-export the teacher the same way.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
    """Skips without the browser (the repo-root conftest.py fails that skip in CI)."""
    why = browser_ready()
    if why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def browser_bundles(hf_bert_dir, sentiment_csv, tmp_path_factory):
    """target -> a passed fp32 bundle of the tiny classifier (seq len 32)."""
    from edgebert.data import Columns, load_labelled
    from edgebert.exporters.export import ExportOptions, export_model

    data = load_labelled(sentiment_csv, Columns(), label_names=["neg", "pos"])
    out = tmp_path_factory.mktemp("bundles")
    results = export_model(hf_bert_dir, data, out, ExportOptions(["onnx", "tflite"], seq_len=32, calib_size=4,
                                                                 eval_limit=16))
    assert all(r.passed for r in results)
    return {r.target: r.path for r in results}


@pytest.fixture
def fake_app(tmp_path, monkeypatch) -> Path:
    """A stand-in demo_app (a page, a runtime folder in node_modules, things that must stay
    private) so the server's rules are tested without npm; EDGEBERT_DEMO_APP points at it."""
    app = tmp_path / "demo_app"
    web, rt = app / "web", app / "node_modules" / "rt" / "dist"
    (web / "engines").mkdir(parents=True)
    rt.mkdir(parents=True)
    for name, text in {"index.html": "<!doctype html><title>demo</title>", "app.js": "export {};",
                       "style.css": "body{}", "manifest.webmanifest": "{}", "sw.js": "", "engines/ort.mjs": "export const ort = 1;",
                       ".secret": "dotfile", "vendor.json": '{"rt": "node_modules/rt/dist"}'}.items():
        (web / name).write_text(text)
    (rt / "ort.wasm").write_bytes(b"\0asm\1\0\0\0")
    (rt / "ort.mjs").write_text("export {};")
    (app / "node_modules" / "rt" / "package.json").write_text('{"private": "node_modules"}')
    (app / "secret.txt").write_text("[project] private")
    (tmp_path / "outside.txt").write_text("[project] outside")
    monkeypatch.setenv("EDGEBERT_DEMO_APP", str(app))
    return app


@pytest.fixture
def fake_bundle(tmp_path) -> Path:
    """A folder the server accepts as an onnx bundle (the server only serves its files)."""
    import hashlib

    b = tmp_path / "bundle"
    b.mkdir()
    art = b"onnx" * 1000
    meta = {"format": "edgebert-bundle", "format_version": 1, "target": "onnx", "precision": "fp32", "seq_len": 8,
            "artifact": {"file": "model.onnx", "bytes": len(art), "sha256": hashlib.sha256(art).hexdigest()},
            "inputs": [], "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, 2]}],
            "labels": ["neg", "pos"], "status": "passed", "gates": {"passed": True}}
    (b / "metadata.json").write_text(json.dumps(meta))
    (b / "model.onnx").write_bytes(art)
    (b / "labels.txt").write_text("neg\npos\n")
    (b / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    return b
