import numpy as np
import onnx
import pytest
import torch

from edgebert.exporters import ExportError, get_exporter
from edgebert.exporters.gates import parity
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


def _int8_weight_matmuls(path) -> dict[str, tuple[bool, tuple, tuple]]:
    """MatMul/Gemm nodes whose weight is an int8 initializer read through DequantizeLinear (static
    QDQ): name -> (activation also through DequantizeLinear, weight shape, weight scale shape).
    QDQ nodes are named after tensors, not after the MatMul, so only the graph's wiring tells."""
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    found = {}
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        act, weight = producer.get(node.input[0]), producer.get(node.input[1])
        if weight is None or weight.op_type != "DequantizeLinear" or weight.input[0] not in inits:
            continue
        w = numpy_helper.to_array(inits[weight.input[0]])
        if w.dtype == np.int8:
            scale = numpy_helper.to_array(inits[weight.input[1]])
            found[node.name] = (act is not None and act.op_type == "DequantizeLinear", w.shape, scale.shape)
    return found


def _linear_nodes(fp32_path, model) -> dict[str, torch.nn.Linear]:
    """The MatMul/Gemm node of each nn.Linear in the exported float graph."""
    ops = {n.name: n.op_type for n in onnx.load(str(fp32_path)).graph.node}
    nodes = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            (node,) = [n for n in nodes_in_modules(fp32_path, [name]) if ops[n] in ("MatMul", "Gemm")]
            nodes[node] = module
    return nodes


def test_static_int8_puts_every_linear_in_qdq_and_keeps_the_answers(export_inputs, export_request):
    model, batches = export_inputs
    ex = get_exporter("onnx")
    fp32 = ex.export(export_request("none"))
    art = ex.export(export_request("int8", ["embeddings"]))
    linears = _linear_nodes(fp32.path, model)
    quantized = _int8_weight_matmuls(art.path)
    assert len(linears) == 2 * 6 + 2 and set(quantized) == set(linears)  # q k v o ffn1 ffn2 per layer, pooler, head
    for node, module in linears.items():
        act_dq, w_shape, scale_shape = quantized[node]
        assert act_dq, f"{node}: activation not quantized"
        assert sorted(w_shape) == sorted(module.weight.shape) and scale_shape == (module.out_features,), node
    assert art.path.stat().st_size < fp32.path.stat().st_size
    # held out: calibration saw batches[:16]; the reference labels there are balanced
    held_out = batches[16:]
    got, ref = _run(ex, art, held_out), _torch(model, held_out)
    counts = np.bincount(ref.argmax(1), minlength=2)
    assert abs(int(counts[0]) - int(counts[1])) <= 1, counts
    gate = parity(got, ref, ex.thresholds("int8"))
    assert gate.passed, gate
    assert gate.argmax_agreement >= ex.thresholds("int8").min_argmax_agreement
    assert np.abs(got - ref).max() > 1e-4  # int8 numerics really run, not the float graph


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
    else:  # static QDQ nodes are named after tensors (quantized_nodes_from cannot see them): read the wiring
        assert not set(head) & set(_int8_weight_matmuls(art.path))
        assert set(head) <= set(_int8_weight_matmuls(quantized.path))


def _word_table(path, ids="input_ids"):
    """(table, row scales or None) read through the graph's wiring: the Gather that looks up
    input_ids, and the scale Gather beside it when the table is int8."""
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    lookups = [inits[n.input[0]] for n in graph.node if n.op_type == "Gather" and n.input[1] == ids]
    tables = [a for a in lookups if a.ndim == 2]
    scales = [a for a in lookups if a.ndim == 1]
    assert len(tables) == 1 and len(scales) <= 1, [a.shape for a in lookups]
    return tables[0], (scales[0] if scales else None), list(inits.values())


@pytest.mark.parametrize("mode", ["int8", "int8-dynamic"])
def test_int8_modes_store_the_word_table_int8_per_row(mode, export_inputs, export_request):
    model, batches = export_inputs
    V, H = model.embeddings.word_embeddings.weight.shape
    ex = get_exporter("onnx")
    art = ex.export(export_request(mode, list(ex.default_float_modules)))
    kept = ex.export(export_request(mode, ["embeddings", *ex.default_float_modules]))
    table, scale, inits = _word_table(art.path)
    assert table.dtype == np.int8 and table.shape == (V, H) and scale.dtype == np.float32 and scale.shape == (V,)
    assert not [a for a in inits if a.shape == (V, H) and a.dtype != np.int8]  # no float copy left behind
    saved = kept.path.stat().st_size - art.path.stat().st_size
    assert saved >= 0.7 * V * H * 3, (saved, V * H * 3)
    assert art.quantization["embedding"].startswith("per-row int8")
    rep = ex.inspect(art)
    assert rep["int8_word_embeddings"] and "word embeddings int8 per row" in rep["summary"]
    assert rep["weight_bytes_by_dtype"]["int8"] >= V * H + ex.inspect(kept)["weight_bytes_by_dtype"].get("int8", 0)
    held_out = batches[16:]
    got, ref = _run(ex, art, held_out), _torch(model, held_out)
    gate = parity(got, ref, ex.thresholds(mode))
    assert gate.passed and (got.argmax(1) == ref.argmax(1)).mean() >= 0.75, gate
    assert np.abs(got - _run(ex, kept, held_out)).max() > 0  # the int8 rows are what runs


def test_int8_word_table_equals_an_independent_per_row_quantization(export_inputs, export_request):
    model, _ = export_inputs
    w = model.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32)
    w[3] = 0  # an all-zero row gets scale 1 (and zeros), not a division by zero
    want_scale = np.abs(w).max(axis=1) / np.float32(127)
    want_scale[want_scale == 0] = 1
    want = np.clip(np.rint(w / want_scale[:, None]), -127, 127).astype(np.int8)
    ex = get_exporter("onnx")
    original = model.embeddings.word_embeddings.weight.data.clone()
    try:
        model.embeddings.word_embeddings.weight.data[3] = 0
        table, scale, _ = _word_table(ex.export(export_request("int8-dynamic", ["classifier"])).path)
    finally:
        model.embeddings.word_embeddings.weight.data.copy_(original)
    assert np.array_equal(table, want) and table[3].tolist() == [0] * w.shape[1] and scale[3] == 1
    np.testing.assert_allclose(scale, want_scale, rtol=1e-7, atol=0)
    assert np.abs(table).max() == 127  # symmetric: each row's largest weight maps to +-127


@pytest.mark.parametrize("mode", ["int8", "int8-dynamic"])
def test_embeddings_kept_float_keeps_the_word_table_float(mode, export_inputs, export_request):
    model, _ = export_inputs
    art = get_exporter("onnx").export(export_request(mode, ["embeddings", "classifier"]))
    table, scale, _ = _word_table(art.path)
    assert table.dtype == np.float32 and scale is None
    assert np.array_equal(table, model.embeddings.word_embeddings.weight.detach().numpy())
    assert art.quantization["embedding"].startswith("float word embeddings")


def test_cli_int8_dynamic_passes_its_gates_with_the_int8_word_table(hf_bert_dir, sentiment_csv, tmp_path):
    """The default (word table int8) and --keep-float embeddings, through the CLI and the gates."""
    import json

    from typer.testing import CliRunner

    from edgebert.cli import app

    for out, extra in (("default", []), ("kept", ["--keep-float", "embeddings"])):
        res = CliRunner().invoke(app, ["export", str(hf_bert_dir), "--target", "onnx", "--quantize", "int8-dynamic",
                                       "--calibration", str(sentiment_csv), "--seq-len", "16", "--calib-size", "4",
                                       "--eval-limit", "16", "--out", str(tmp_path / out), *extra])
        assert res.exit_code == 0, res.output
        bundle = tmp_path / out / "onnx-int8-dynamic"
        meta = json.loads((bundle / "metadata.json").read_text())
        assert meta["gates"]["status"] == "passed", meta["gates"]
        table, _, _ = _word_table(bundle / "model.onnx")
        int8 = "word embeddings int8 per row" in meta["precision_report"]["summary"]
        if extra:
            assert table.dtype == np.float32 and not int8 and "embeddings" in meta["float_modules"]
        else:
            assert table.dtype == np.int8 and int8 and meta["float_modules"] == ["classifier"]
