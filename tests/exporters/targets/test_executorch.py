import numpy as np
import pytest
import torch

from edgebert.exporters import ExportError, get_exporter


def _run_all(exporter, art, batches):
    run = exporter.runner(art)
    return np.concatenate([run(*(b[n].numpy() for n in ("input_ids", "attention_mask", "token_type_ids")))
                           for b in batches])


def _torch(model, batches):
    with torch.no_grad():
        return torch.cat([model(**b) for b in batches]).numpy()


def test_fp32_pte_matches_pytorch(export_inputs, export_request):
    model, batches = export_inputs
    ex = get_exporter("executorch")
    art = ex.export(export_request("none"))
    assert art.path.suffix == ".pte" and art.precision == "fp32"
    got = _run_all(ex, art, batches[16:])
    assert np.abs(got - _torch(model, batches[16:])).max() <= 1e-4
    rep = ex.inspect(art)
    assert rep["int8_share"] == 0.0 and rep["delegate_segments"] >= 1
    assert 0.5 < rep["delegated_share"] < 1.0  # LayerNorm / embeddings stay on portable kernels
    assert rep["portable_ops"].get("aten.native_layer_norm.default", 0) >= 1


def test_int8_pte_equals_its_pt2e_graph_and_is_smaller(export_inputs, export_request):
    model, batches = export_inputs
    ex = get_exporter("executorch")
    fp32 = ex.export(export_request("none"))
    art = ex.export(export_request("int8", ["embeddings"]))
    got = _run_all(ex, art, batches[16:])
    with torch.no_grad():
        ref = torch.cat([art.reference(**b) for b in batches[16:]]).numpy()
    assert np.abs(got - ref).max() <= 1e-5  # the .pte runs exactly the calibrated graph
    expected = _torch(model, batches[16:])
    assert np.abs(got - expected).max() > 0  # it really is quantized ...
    cos = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cos.min() > 0.98  # ... and still close
    assert art.path.stat().st_size < fp32.path.stat().st_size
    rep = ex.inspect(art)
    assert rep["int8_share"] > 0.3 and "int8" in rep["summary"]


def test_float_modules_keep_layers_float(export_inputs, export_request):
    ex = get_exporter("executorch")
    all_q = ex.export(export_request("int8", ["embeddings"]))
    part = ex.export(export_request("int8", ["embeddings", "encoder.layer.0", "encoder.layer.1"]))
    int8_tensors = lambda a: sum(t.dtype == torch.int8 for t in a.reference.state_dict().values())
    assert 0 < int8_tensors(part) < int8_tensors(all_q)
    assert "kept float: encoder.layer.0, encoder.layer.1" in ex.inspect(part)["summary"]


def test_an_int8_export_with_every_layer_kept_float_says_it_runs_float(export_inputs, export_request):
    """The report's "runs as" must not promise int8 where the sensitivity fallback kept everything float."""
    model, _ = export_inputs
    ex = get_exporter("executorch")
    layers = [f"encoder.layer.{i}" for i in range(model.config.num_layers)]
    art = ex.export(export_request("int8", ["embeddings", "classifier", "pooler", *layers]))
    rep = ex.inspect(art)
    assert rep["int8_share"] == 0.0
    assert "int8" not in rep["summary"] and "every quantizable layer kept float" in rep["summary"], rep["summary"]


def test_errors(export_request):
    ex = get_exporter("executorch")
    with pytest.raises(ExportError, match="calibration set is empty"):
        ex.export(export_request("int8", calibration=[]))
    with pytest.raises(ExportError, match="does not support --quantize int8-dynamic"):
        ex.export(export_request("int8-dynamic"))
    with pytest.raises(ExportError, match="cannot keep encoder.layer.9"):
        ex.export(export_request("int8", ["encoder.layer.9"]))
