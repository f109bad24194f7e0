import numpy as np
import onnx
import pytest
import torch

from edgebert.exporters import ExportError, get_exporter
from edgebert.exporters.targets.onnx import nodes_in_modules

NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _run(ex, art, batches):
    run = ex.runner(art)
    return np.concatenate([run(*(b[n].numpy() for n in NAMES)) for b in batches])


def _torch(model, batches):
    with torch.no_grad():
        return torch.cat([model(**b) for b in batches]).numpy()


def test_fp32_has_dynamic_batch_and_seq_and_matches(export_inputs, export_request):
    model, batches = export_inputs
    ex = get_exporter("onnx")
    art = ex.export(export_request("none"))
    graph = onnx.load(str(art.path)).graph
    assert [i.name for i in graph.input] == list(NAMES)
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert all(isinstance(d, str) for d in dims)  # symbolic batch and sequence
    assert np.abs(_run(ex, art, batches) - _torch(model, batches)).max() <= 1e-4
    # a different batch and length than the export example
    import onnxruntime as ort

    sess = ort.InferenceSession(str(art.path))
    b = {n: torch.cat([batches[0][n][:, :12], batches[1][n][:, :12]]).numpy() for n in NAMES}
    out = sess.run(None, b)[0]
    with torch.no_grad():
        ref = model(*(torch.from_numpy(b[n]) for n in NAMES)).numpy()
    assert out.shape == (2, 2) and np.abs(out - ref).max() <= 1e-4


@pytest.mark.parametrize("mode", ["int8", "int8-dynamic"])
def test_int8_modes_quantize_matmuls_and_stay_close(mode, export_inputs, export_request):
    model, batches = export_inputs
    ex = get_exporter("onnx")
    art = ex.export(export_request(mode, ["embeddings"]))
    ops = {n.op_type for n in onnx.load(str(art.path)).graph.node}
    assert ("DequantizeLinear" in ops) if mode == "int8" else ("MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops)
    got, ref = _run(ex, art, batches), _torch(model, batches)
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() > 0.98 and np.abs(got - ref).max() > 0
    rep = ex.inspect(art)
    assert rep["quantized_matmuls"] > 0 and rep["int8_share"] > 0.5


def test_float_modules_map_to_onnx_nodes(export_inputs, export_request):
    ex = get_exporter("onnx")
    fp32 = ex.export(export_request("none"))
    nodes = nodes_in_modules(fp32.path, ["encoder.layer.0"])
    assert nodes and not set(nodes) & set(nodes_in_modules(fp32.path, ["encoder.layer.1"]))
    full = ex.inspect(ex.export(export_request("int8", ["embeddings"])))
    part = ex.inspect(ex.export(export_request("int8", ["embeddings", "encoder.layer.0"])))
    assert part["quantized_matmuls"] < full["quantized_matmuls"]


def test_errors(export_request):
    ex = get_exporter("onnx")
    with pytest.raises(ExportError, match="calibration set is empty"):
        ex.export(export_request("int8", calibration=[]))
    with pytest.raises(ExportError, match="no ONNX nodes found"):
        ex.export(export_request("int8", ["encoder.layer.7"]))


@pytest.mark.parametrize("mode", ["int8", "int8-dynamic"])
def test_classifier_kept_float_really_stays_float(mode, export_request):
    """Dynamic mode renames each Gemm to NAME_MatMul before applying exclusions: the
    classifier used to be quantized despite being listed float (21 points lost on MiniLM)."""
    from edgebert.exporters.targets.onnx import quantized_nodes_from

    ex = get_exporter("onnx")
    fp32 = ex.export(export_request("none"))
    head = nodes_in_modules(fp32.path, ["classifier"])
    assert head
    art = ex.export(export_request(mode, ["embeddings", "classifier"]))
    assert quantized_nodes_from(art.path, head) == []
    graph = onnx.load(str(art.path)).graph
    head_nodes = [n for n in graph.node if any(n.name == h or n.name.startswith(f"{h}_") for h in head)]
    assert head_nodes and {n.op_type for n in head_nodes} <= {"Gemm", "MatMul", "Add"}
    # and the check itself catches a quantized head
    quantized = ex.export(export_request(mode, ["embeddings"]))
    if mode == "int8-dynamic":
        assert quantized_nodes_from(quantized.path, head)
