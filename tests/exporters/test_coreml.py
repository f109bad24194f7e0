"""CoreML target: fp16 / W8A8 / int8-weights conversion, spec structure, op census, reference numerics.

CoreML cannot execute on Linux, so these tests check structure (spec, I/O, op and dtype
census, weight bytes) and the numerics of ``Artifact.reference`` in torch.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch

from edgebert.exporters import ExportError, get_exporter
from edgebert.exporters.base import INPUT_NAMES, OUTPUT_NAME


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
    assert fp16.reference is tiny_classifier.model


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
    assert (got.argmax(1) == eager.argmax(1)).float().mean().item() >= 0.75
    assert not torch.equal(got, eager)


def test_int8_weights_are_smaller(exporter, int8_weights, fp16, tiny_classifier):
    info, base = exporter.inspect(int8_weights), exporter.inspect(fp16)
    q = info["quant_ops"]
    assert q["constexpr_affine_dequantize"] + q["constexpr_blockwise_shift_scale"] > 0
    assert q["quantize"] == 0 and q["dequantize"] == 0  # activations stay fp16
    assert info["weight_bytes"]["int8"] > 0 and info["int8_share"] > 0.3
    assert sum(info["weight_bytes"].values()) < sum(base["weight_bytes"].values())
    assert info["weight_file_bytes"] < base["weight_file_bytes"]
    assert int8_weights.reference is tiny_classifier.model


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
