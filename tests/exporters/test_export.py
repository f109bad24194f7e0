"""export_model end to end on a tiny model: bundles, metadata, gates, fallback, errors."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from edgebert.cli import app
from edgebert.data import load_labelled
from edgebert.exporters.export import ExportOptions, export_model
from edgebert.fsutil import MARKER

BUNDLE_FILES = {MARKER, "model.onnx", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "edgebert_tokenizer.json",
                "labels.txt", "reference.json", "metadata.json"}


@pytest.fixture(scope="module")
def labelled(sentiment_csv):
    return load_labelled(sentiment_csv, label_names=["neg", "pos"])


def test_onnx_bundle_is_complete_and_metadata_valid(hf_bert_dir, labelled, tmp_path):
    (res,) = export_model(hf_bert_dir, labelled, tmp_path, ExportOptions(["onnx"], "int8", seq_len=32, calib_size=16))
    assert res.passed and res.path == tmp_path / "onnx-int8"
    assert {p.name for p in res.path.iterdir()} == BUNDLE_FILES
    meta = json.loads((res.path / "metadata.json").read_text())
    assert meta["status"] == "passed" and meta["precision"] == "int8" and meta["seq_len"] == 32
    assert [i["name"] for i in meta["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["calibration"]["size"] == 16 and len(meta["calibration"]["sha256"]) == 64
    assert len(meta["source_checkpoint"]["sha256"]) == 64 and meta["versions"]["onnxruntime"]
    assert meta["gates"]["parity"]["passed"] and meta["gates"]["accuracy"]["examples"] == 20
    assert meta["artifact"]["bytes"] == (res.path / "model.onnx").stat().st_size
    assert "int8" in meta["precision_report"]["summary"]
    assert (res.path / "labels.txt").read_text().split() == ["neg", "pos"]
    tok = json.loads((res.path / "edgebert_tokenizer.json").read_text())
    assert tok["do_lower_case"] and tok["max_seq_len"] == 32 and tok["cls_id"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [MARKER]  # no work folders left
    assert meta["sequence"] == {"kind": "dynamic", "max_len": 32, "min_len": 2}


def test_a_dynamic_length_artifact_is_gated_at_each_examples_own_length(hf_bert_dir, labelled, tmp_path, monkeypatch):
    """What the app feeds (the sentence's own tokens, no padding) is what the gate ran."""
    from edgebert.exporters.targets.onnx import OnnxExporter

    fed: list[tuple[int, int]] = []
    make_runner = OnnxExporter.runner

    def spying_runner(self, artifact):
        run = make_runner(self, artifact)

        def spy(ids, mask, types):
            fed.append((ids.shape[1], int(mask.sum())))
            assert ids.shape == mask.shape == types.shape
            return run(ids, mask, types)
        return spy

    monkeypatch.setattr(OnnxExporter, "runner", spying_runner)
    (res,) = export_model(hf_bert_dir, labelled, tmp_path, ExportOptions(["onnx"], "none", seq_len=32))
    # 20 held-out examples at their own length, then the same padded to the maximum (a mask check)
    assert res.passed and len(fed) == 40
    real, padded = fed[:20], fed[20:]
    assert all(width == tokens for width, tokens in real), real  # no [PAD] fed
    assert all(width == 32 for width, _ in padded) and [t for _, t in padded] == [t for _, t in real]
    fed = real
    assert max(w for w, _ in fed) < 32  # the fixture's sentences are short
    lengths = json.loads((res.path / "metadata.json").read_text())["gates"]["lengths"]
    assert lengths["kind"] == "dynamic" and lengths["max"] == max(w for w, _ in fed)


def test_over_budget_int8_falls_back_by_sensitivity_then_is_rejected(hf_bert_dir, labelled, tmp_path, monkeypatch):
    """An accuracy gate that every artifact misses forces every fallback step; the bundle is then rejected."""
    import edgebert.exporters.export as pipeline
    from edgebert.exporters.gates import accuracy_gate

    def always_over(split, got, ref, labels, budget):
        return dataclasses.replace(accuracy_gate(split, got, ref, labels, budget), drop_points=budget + 1, passed=False)

    monkeypatch.setattr(pipeline, "accuracy_gate", always_over)
    opts = ExportOptions(["onnx"], "int8", seq_len=32, calib_size=16, accuracy_budget=0.0, max_fallback_steps=2)
    (res,) = export_model(hf_bert_dir, labelled, tmp_path, opts)
    assert not res.passed and res.path.name == "onnx-int8.rejected"
    meta = res.metadata
    ranked = [s["module"] for s in meta["sensitivity"]]
    assert sorted(ranked) == sorted(["encoder.layer.0", "encoder.layer.1", "pooler", "classifier"])
    # the classifier is float by default (ONNX's int8 word table leaves embeddings off the list),
    # so the fallback walks the remaining ranking
    assert meta["float_modules"][:1] == ["classifier"] and "embeddings" not in meta["float_modules"]
    assert [a["float_modules"][-1] for a in meta["fallback_attempts"]] == [m for m in ranked if m != "classifier"][:2]
    assert meta["status"] == "rejected" and "accuracy dropped" in meta["rejected_because"][0]


def test_cli_export_fp32_and_errors(hf_bert_dir, sentiment_csv, tmp_path):
    run = CliRunner().invoke
    res = run(app, ["export", str(hf_bert_dir), "--target", "executorch", "--calibration", str(sentiment_csv),
                    "--seq-len", "32", "--out", str(tmp_path / "b"), "--calib-size", "8"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b" / "executorch-fp32" / "model.pte").exists()
    for args, expected in [
        (["--target", "tensorrt"], "unknown target 'tensorrt'"),
        (["--target", "executorch", "--quantize", "int8-dynamic"], "does not support --quantize int8-dynamic"),
        (["--target", "onnx", "--calib-size", "0"], "--calib-size must be positive"),
        (["--target", "onnx", "--accuracy-budget", "-5"], "not a number of accuracy points"),
        (["--target", "onnx", "--keep-float", "encoder.layer.99"], "the model has no such module"),
        (["--target", "onnx", "--seq-len", "500"], "exceeds the model's 64 positions"),
    ]:
        res = run(app, ["export", str(hf_bert_dir), "--calibration", str(sentiment_csv), "--out",
                        str(tmp_path / "e"), *args])
        assert res.exit_code == 2 and expected in res.stderr, (args, res.output)
        assert len(res.stderr.strip().splitlines()) == 1


def test_missing_target_library_names_the_fix(hf_bert_dir, labelled, tmp_path, monkeypatch):
    from edgebert.errors import DependencyError
    from edgebert.exporters.targets.onnx import OnnxExporter

    monkeypatch.setattr(OnnxExporter, "export_modules", ("onnx_not_installed_here",))
    with pytest.raises(DependencyError, match="cannot export onnx: onnx_not_installed_here") as info:
        export_model(hf_bert_dir, labelled, tmp_path, ExportOptions(["onnx"], seq_len=32, calib_size=4))
    assert "pip install" in info.value.one_line()


def test_unsupported_op_is_named(hf_bert_dir, labelled, tmp_path, monkeypatch):
    """A model whose forward has data-dependent control flow fails torch.export with its reason."""
    from edgebert.model.modeling import EdgeBertForSequenceClassification
    from edgebert.exporters import ExportError

    original = EdgeBertForSequenceClassification.forward

    def branching(self, input_ids, attention_mask=None, token_type_ids=None):
        logits = original(self, input_ids, attention_mask, token_type_ids)
        return logits * 2 if logits.sum() > 0 else logits  # data-dependent branch

    monkeypatch.setattr(EdgeBertForSequenceClassification, "forward", branching)
    with pytest.raises(ExportError, match="ExecuTorch|torch.export failed") as info:
        export_model(hf_bert_dir, labelled, tmp_path, ExportOptions(["executorch"], seq_len=32, calib_size=4))
    assert "\n" not in info.value.one_line()


def test_calibration_data_with_other_labels_is_rejected(hf_bert_dir, tmp_path):
    from edgebert.errors import DataError

    p = tmp_path / "other.csv"
    p.write_text("text,label\ngreat,positive\nbad,negative\n")
    with pytest.raises(DataError, match="does not know"):
        load_labelled(p, label_names=["neg", "pos"])
    res = CliRunner().invoke(app, ["export", str(hf_bert_dir), "--calibration", str(p), "--target", "onnx",
                                   "--seq-len", "32", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "does not know" in res.stderr


def test_unwritable_output_folder(hf_bert_dir, sentiment_csv, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(app, ["export", str(hf_bert_dir), "--calibration", str(sentiment_csv), "--target",
                                   "onnx", "--seq-len", "32", "--calib-size", "4", "--out", str(blocker / "b")])
    assert res.exit_code == 2 and "error:" in res.stderr and "Traceback" not in res.output


def test_a_killed_export_leaves_no_scratch_after_the_rerun(hf_bert_dir, sentiment_csv, tmp_path):
    """kill -9 mid-export, then the same command: the bundle is written and the dead run's
    scratch folder (.executorch-work-PID-*) is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("edgebert"))
    out = tmp_path / "b"
    argv = [exe, "export", str(hf_bert_dir), "--target", "executorch", "--calibration", str(sentiment_csv),
            "--seq-len", "16", "--calib-size", "4", "--eval-limit", "16", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(out.glob(".executorch-work-*/*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the export finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".executorch-work-*")), "the killed run left no scratch: nothing to test"
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "executorch-fp32"]


def test_executorch_int8_bundle_records_the_embedding_bits_asked_for(hf_bert_dir, sentiment_csv, tmp_path):
    """--embedding-bits reaches the exporter: the bundle's metadata and summary say 4-bit, the
    default (classifier-only float list) leaves embeddings off it, and the gates pass."""
    res = CliRunner().invoke(app, ["export", str(hf_bert_dir), "--target", "executorch", "--quantize", "int8",
                                   "--calibration", str(sentiment_csv), "--seq-len", "32", "--calib-size", "16",
                                   "--eval-limit", "40", "--embedding-bits", "4", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output[-2000:]
    meta = json.loads((tmp_path / "b" / "executorch-int8" / "metadata.json").read_text())
    assert meta["quantization"]["embedding"].startswith("4-bit word embeddings"), meta["quantization"]
    assert "embeddings" not in meta["float_modules"] and meta["status"] == "passed"
    assert "word embeddings 4-bit per group" in meta["precision_report"]["summary"]
