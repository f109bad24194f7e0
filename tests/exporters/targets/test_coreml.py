"""CoreML target: fp16 / W8A8 / int8-weights conversion, spec structure, op census, the gate off macOS.

CoreML cannot execute on Linux, so these tests check structure (spec, I/O, op and dtype
census, weight bytes), the structural gate against the precision asked for, that a bundle
whose numerics could not be run is ``unverified`` (never ``passed``), and the numerics of
the W8A8 torch reference graph (which is not the artifact).
"""

from __future__ import annotations

import dataclasses
import json
import platform

import numpy as np
import pytest
import torch

from edgebert.exporters import ExportError, get_exporter
from edgebert.exporters.base import INPUT_NAMES, OUTPUT_NAME, TensorSpec


@pytest.fixture(scope="module")
def exporter():
    return get_exporter("coreml")


@pytest.fixture(scope="module")
def fp16(exporter, tiny_export_request):
    return exporter.export(tiny_export_request("none"))


@pytest.fixture(scope="module")
def w8a8(exporter, tiny_export_request):
    return exporter.export(tiny_export_request("int8"))


@pytest.fixture(scope="module")
def int8_weights(exporter, tiny_export_request):
    return exporter.export(tiny_export_request("int8-weights"))


def _reference(artifact, batches) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([artifact.reference(*(b[n] for n in INPUT_NAMES)) for b in batches])


def balanced_agreement(got: torch.Tensor, want: torch.Tensor) -> float:
    """Argmax agreement on as many inputs of each reference class: a constant output scores 0.5."""
    pred = want.argmax(1)
    rows = [torch.nonzero(pred == c).flatten() for c in (0, 1)]
    k = min(len(r) for r in rows)
    assert k >= 4, f"too few inputs of one class for an agreement check: {pred.tolist()}"
    keep = torch.cat([r[:k] for r in rows])
    return (got[keep].argmax(1) == pred[keep]).float().mean().item()


def test_registered(exporter):
    assert exporter.target == "coreml" and exporter.suffix == ".mlpackage"
    assert exporter.quantize_modes == ("none", "int8", "int8-weights")
    assert exporter.runs_on == ("Darwin",)


@pytest.mark.parametrize("name", ["fp16", "w8a8", "int8_weights"])
def test_spec_io(exporter, request, name):
    art = request.getfixturevalue(name)
    assert art.path.suffix == ".mlpackage" and art.path.is_dir()
    assert art.precision == {"fp16": "fp16", "w8a8": "int8", "int8_weights": "int8-weights"}[name]
    assert [(s.name, s.dtype, s.shape) for s in art.inputs] == [(n, "int32", [1, 16]) for n in INPUT_NAMES]
    info = exporter.inspect(art)
    assert info["inputs"] == [{"name": n, "dtype": "int32", "shape": [1, 16]} for n in INPUT_NAMES]
    assert info["outputs"] == [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, 2]}]
    assert info["opset"] == "CoreML7"  # iOS 17
    assert info["metadata"]["edgebert.precision"] == art.precision
    assert isinstance(info["summary"], str) and info["summary"]
    assert 0.0 <= info["int8_share"] <= 1.0


def test_fp16_has_no_quantization(exporter, fp16, tiny_classifier):
    info = exporter.inspect(fp16)
    assert info["int8_share"] == 0.0 and "int8" not in info["weight_bytes"]
    assert sum(info["quant_ops"].values()) == 0
    assert info["ops"]["linear"] == 14 and info["ops_by_dtype"]["fp16"] > 0
    assert fp16.reference is None  # the source model is not a reference for fp16 numerics


def test_w8a8_has_quantize_dequantize_and_calibrated_reference(exporter, w8a8, fp16, tiny_classifier):
    info = exporter.inspect(w8a8)
    q = info["quant_ops"]
    assert q["quantize"] > 0 and q["dequantize"] > 0 and q["constexpr_affine_dequantize"] == 14
    assert info["int8_share"] > 0.5 and info["ops_by_dtype"].get("int8", 0) > 0
    assert "W8A8" in info["summary"]
    assert info["weight_file_bytes"] < exporter.inspect(fp16)["weight_file_bytes"]
    assert w8a8.quantization["calibration_examples"] == len(tiny_classifier.calibration)

    # reference is the converted PT2E graph (quantize/dequantize with calibrated scales), not the float model
    ref = w8a8.reference
    assert ref is not tiny_classifier.model
    targets = {str(n.target) for n in ref.graph.nodes if n.op == "call_function"}
    assert any("quantize_per_tensor" in t for t in targets)
    got = _reference(w8a8, tiny_classifier.heldout)
    eager = tiny_classifier.torch_logits()
    cos = torch.nn.functional.cosine_similarity(got.flatten(), eager.flatten(), dim=0).item()
    assert cos > 0.9
    assert balanced_agreement(got, eager) >= 0.875
    assert balanced_agreement(torch.zeros_like(eager) + torch.tensor([0.0, 1.0]), eager) == 0.5  # a constant fails
    assert not torch.equal(got, eager)


def test_int8_weights_are_smaller(exporter, int8_weights, fp16, tiny_classifier):
    info, base = exporter.inspect(int8_weights), exporter.inspect(fp16)
    q = info["quant_ops"]
    assert q["constexpr_affine_dequantize"] + q["constexpr_blockwise_shift_scale"] > 0
    assert q["quantize"] == 0 and q["dequantize"] == 0  # activations stay fp16
    assert info["weight_bytes"]["int8"] > 0 and info["int8_share"] > 0.3
    assert sum(info["weight_bytes"].values()) < sum(base["weight_bytes"].values())
    assert info["weight_file_bytes"] < base["weight_file_bytes"]
    assert int8_weights.reference is None


def test_int8_weights_float_modules(exporter, tiny_export_request, int8_weights):
    layers = ["encoder.layer.0", "encoder.layer.1"]
    art = exporter.export(tiny_export_request("int8-weights", float_modules=layers))
    assert art.quantization["float_modules"] == layers
    # only the word-embedding table and the pooler are left to quantize
    assert exporter.inspect(art)["quant_ops"]["constexpr_affine_dequantize"] == 2
    assert exporter.inspect(int8_weights)["quant_ops"]["constexpr_affine_dequantize"] > 1


@pytest.mark.skipif(platform.system() == "Darwin", reason="CoreML runs on macOS")
def test_runner_raises_one_line_on_linux(exporter, fp16):
    assert not exporter.can_run_here()
    with pytest.raises(ExportError, match="CoreML models run only on macOS/iOS") as err:
        exporter.runner(fp16)
    assert "\n" not in err.value.one_line()


@pytest.mark.skipif(platform.system() != "Darwin", reason="needs macOS")
def test_runner_on_macos(exporter, fp16, tiny_classifier):  # pragma: no cover - Linux CI
    run = exporter.runner(fp16)
    got = np.concatenate([run(*(b[n].numpy() for n in INPUT_NAMES)) for b in tiny_classifier.heldout])
    assert np.abs(got - tiny_classifier.torch_logits().numpy()).max() < 5e-2


def test_seq_len_equal_to_max_position_converts(exporter, tiny_classifier, tmp_path):
    """seq_len == max_position_embeddings makes torch.export emit aten.alias (registered as a no-op)."""
    from edgebert.exporters import ExportRequest

    seq = tiny_classifier.model.config.max_position_embeddings
    ids = torch.full((1, seq), 5, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    art = exporter.export(ExportRequest(tiny_classifier.model, seq, "none", [batch], tmp_path))
    assert exporter.inspect(art)["inputs"][0]["shape"] == [1, seq]


def test_bad_requests(exporter, tiny_export_request):
    with pytest.raises(ExportError, match="does not support --quantize int8-dynamic"):
        exporter.export(tiny_export_request("int8-dynamic"))
    with pytest.raises(ExportError, match="not found in the model"):
        exporter.export(tiny_export_request("int8-weights", float_modules=["encoder.layer.7"]))


# --------------------------------------------------------------------------- the gate off macOS

off_macos = pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS the real predict() gate runs")


@pytest.mark.parametrize("name", ["fp16", "w8a8", "int8_weights"])
def test_structure_check_accepts_what_was_asked(exporter, request, name):
    art = request.getfixturevalue(name)
    check = exporter.check_structure(art)
    assert check["passed"] and check["problems"] == [], check["problems"]
    linears = check["linears"]
    assert linears["total"] == 14
    assert linears["int8_weights"] == {"fp16": 0, "w8a8": 14, "int8_weights": 13}[name]  # classifier: 64 weights
    assert linears["int8_inputs"] == {"fp16": 0, "w8a8": 14, "int8_weights": 0}[name]


@pytest.mark.parametrize("name, claim, problem", [
    ("fp16", "int8", "no activation quantize/dequantize ops"),
    ("fp16", "int8-weights", "13 of 13 linears outside the float modules keep fp16 weights"),
    ("w8a8", "fp16", "14 of 14 linears do not compute in fp16 from fp16 weights"),
    ("w8a8", "int8-weights", "quantizes activations"),
    ("int8_weights", "fp16", "stores int8 weights"),
])
def test_structure_check_rejects_another_precision(exporter, request, name, claim, problem):
    """The census, not the recorded label, decides: each artifact fails as any other precision."""
    art = dataclasses.replace(request.getfixturevalue(name), precision=claim)
    check = exporter.check_structure(art)
    assert not check["passed"] and any(problem in p for p in check["problems"]), check["problems"]


def test_structure_check_rejects_wrong_io_and_float_modules(exporter, fp16, int8_weights):
    art = dataclasses.replace(fp16, outputs=[TensorSpec(OUTPUT_NAME, "float32", [1, 3])])
    assert any("outputs are logits float32[1, 2], expected logits float32[1, 3]" in p
               for p in exporter.check_structure(art)["problems"])
    art = dataclasses.replace(int8_weights, quantization={**int8_weights.quantization, "float_modules": ["pooler"]})
    assert "1 linears of the float modules have int8 weights (first: pooler_dense)" in \
        exporter.check_structure(art)["problems"]


def test_w8a8_without_calibrated_quantization_fails_structure(exporter, tiny_export_request, monkeypatch):
    """PT2E made a no-op: the program is fp16 though it says int8, and the census says so."""
    import edgebert.exporters.pt2e as pt2e

    monkeypatch.setattr(pt2e, "calibrate_and_convert", lambda model, args, quantizer, calibration: model)
    art = exporter.export(tiny_export_request("int8"))
    check = exporter.check_structure(art)
    assert art.precision == "int8" and not check["passed"]
    assert any("no activation quantize/dequantize ops" in p for p in check["problems"]), check["problems"]


@pytest.fixture(scope="module")
def sentiment(sentiment_csv):
    from edgebert.data import load_labelled

    return load_labelled(sentiment_csv, label_names=["neg", "pos"])


def _export_cli(hf_bert_dir, sentiment_csv, out, *args):
    from typer.testing import CliRunner

    from edgebert.cli import app

    return CliRunner().invoke(app, ["export", str(hf_bert_dir), "--target", "coreml", "--calibration",
                                    str(sentiment_csv), "--seq-len", "16", "--calib-size", "8", "--out", str(out),
                                    *args])


@off_macos
def test_fp16_bundle_is_unverified_in_metadata_cli_and_report(hf_bert_dir, sentiment_csv, tmp_path):
    """Nothing ran the artifact, so nothing may call it passed; it is still a usable bundle (exit 0)."""
    res = _export_cli(hf_bert_dir, sentiment_csv, tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert "unverified" in res.output and "passed" not in res.output
    assert "numerics not verified on this machine" in res.output and "run only on macOS" in res.output
    bundle = tmp_path / "b" / "coreml-fp16"
    meta = json.loads((bundle / "metadata.json").read_text())
    gates = meta["gates"]
    assert meta["status"] == "unverified" and gates["status"] == "unverified" and gates["passed"] is False
    assert gates["parity"] is None and gates["accuracy"] is None and gates["torch_reference"] is None
    assert gates["structure"]["passed"] and gates["runtime_checked"] is False
    assert meta["rejected_because"] == []

    from types import SimpleNamespace

    from edgebert.pipeline.run_report import build_report, markdown

    rec = {"bundle": str(bundle), "target": "coreml", "precision": "fp16"}
    spec = SimpleNamespace(name="t", source=None, to_dict=lambda: {})
    doc = build_report(spec, tmp_path, tmp_path, {"teacher": {"coreml": rec}}, {}, {"ran": [], "skipped": []})
    (art,) = doc["artifacts"]
    assert art["status"] == "unverified" and art["accuracy"] is None
    md = markdown(doc, {})
    row = next(l for l in md.splitlines() if l.startswith("| teacher coreml fp16"))
    assert row.endswith("| **unverified** (numerics not checked) |") and "passed" not in row
    assert "teacher coreml fp16: numerics NOT verified on this machine" in md and "macOS" in md
    assert "was rejected" not in md


@off_macos
def test_int8_weights_without_quantization_is_rejected(hf_bert_dir, sentiment_csv, tmp_path, monkeypatch):
    """linear_quantize_weights made a no-op: the structural gate fails the bundle (exit 2)."""
    from edgebert.exporters.targets.coreml import CoreMLExporter

    monkeypatch.setattr(CoreMLExporter, "_quantize_weights", staticmethod(lambda mlmodel, float_modules: mlmodel))
    res = _export_cli(hf_bert_dir, sentiment_csv, tmp_path / "b", "--quantize", "int8-weights")
    assert res.exit_code == 2 and "failed their gates: coreml-int8-weights.rejected" in res.stderr, res.output
    meta = json.loads((tmp_path / "b" / "coreml-int8-weights.rejected" / "metadata.json").read_text())
    assert meta["status"] == "rejected" and meta["gates"]["status"] == "failed" and meta["gates"]["passed"] is False
    assert meta["fallback_attempts"] == []  # keeping layers in float cannot fix a missing quantization
    assert any(r.startswith("structure: int8-weights was asked for but") for r in meta["rejected_because"])


@off_macos
def test_w8a8_torch_reference_is_reported_but_cannot_pass(hf_bert_dir, sentiment, tmp_path):
    from edgebert.exporters.export import ExportOptions, export_model

    (res,) = export_model(hf_bert_dir, sentiment, tmp_path, ExportOptions(["coreml"], "int8", seq_len=16,
                                                                         calib_size=8))
    gates = res.metadata["gates"]
    assert res.status == "unverified" and not res.passed and res.path.name == "coreml-int8"
    assert gates["status"] == "unverified" and gates["passed"] is False and gates["structure"]["passed"]
    ref = gates["torch_reference"]
    assert ref["what"].startswith("torch reference graph") and "not the artifact" in ref["what"]
    assert ref["passed"] and ref["accuracy"]["examples"] > 0 and ref["parity"]["examples"] > 0
    assert gates["parity"] is None and gates["accuracy"] is None  # the artifact's own numerics: not run
