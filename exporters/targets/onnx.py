"""ONNX (onnxruntime on Android/iOS/desktop, onnxruntime-web for the browser demo).

torch.onnx.export (dynamo, opset 18) with dynamic batch and sequence axes; int8 through
onnxruntime's own tools: static QDQ calibrated on the calibration set (`int8`), or
dynamic int8 (`int8-dynamic`, often the faster one on x86 ORT). onnxruntime quantizes only
MatMul/Gemm, so LayerNorm, Softmax and the embeddings module stay float, as in the other
targets, except the word table: edgebert stores it int8 per row itself (onnx_embeddings says
why onnxruntime's tools cannot), unless ``embeddings`` is among the float modules.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgebert.quiet import quiet

from .. import register_exporter
from ..base import INPUT_NAMES, OUTPUT_NAME, Artifact, Exporter, ExportError, ExportRequest, Precision, TensorSpec
from ..sequence import SequenceShape
from ..onnx_embeddings import SCHEME, quantize_word_table

OPSET = 18
QUANTIZED_OPS = ["MatMul", "Gemm"]


def _scopes(node) -> list[str]:
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            return [s.strip(" '\"") for s in prop.value.strip("[]").split(",")]
    return []


def _graph(model_path: Path):
    import onnx

    return onnx.load(str(model_path), load_external_data=False).graph


def _module_nodes(graph, modules: list[str]) -> list[str]:
    wanted = set(modules)
    return [n.name for n in graph.node if any(s in wanted for s in _scopes(n))] if wanted else []


def nodes_in_modules(model_path: Path, modules: list[str]) -> list[str]:
    """ONNX node names created by the given torch modules (from the exporter's scope metadata)."""
    return _module_nodes(_graph(model_path), modules) if modules else []


def quantized_nodes_from(model_path: Path, excluded: list[str]) -> list[str]:
    """Quantized nodes (integer matmuls, QDQ pairs) that came from nodes meant to stay float.

    onnxruntime names a quantized node after its source (``NAME_quant``, ``NAME_MatMul_quant``),
    so the source name, matched exactly, catches a float module that was quantized after all.
    """
    import onnx

    if not excluded:
        return []
    quantized_ops = {"MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
                     "QGemm", "QuantizeLinear", "DequantizeLinear"}
    graph = onnx.load(str(model_path), load_external_data=False).graph
    wanted = set(excluded)

    def source(name: str) -> str:  # NAME_quant / NAME_MatMul_quant -> NAME (exact: node_linear_13 is not node_linear)
        for suffix in ("_MatMul_quant", "_quant"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    return [n.name for n in graph.node if n.op_type in quantized_ops and source(n.name) in wanted]


def _drop_stack_traces(path: Path) -> None:
    """The exporter records each node's Python stack trace, absolute source paths of the machine
    that exported it included; a model that ships to phones carries none of that."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for node in model.graph.node:
        keep = [p for p in node.metadata_props if "stack_trace" not in p.key]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    onnx.save(model, str(path))


def _drop_value_info(path: Path) -> None:
    """Stale intermediate shapes from the exporter make onnx shape inference in
    quantize_dynamic fail ("Inferred shape and existing shape differ"); let it recompute."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    onnx.save(model, str(path))


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over edgebert calibration batches."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self._it = iter([{k: v.numpy().astype(np.int64) for k, v in b.items() if k in INPUT_NAMES} for b in batches])

    def get_next(self):
        return next(self._it, None)


@register_exporter
class OnnxExporter(Exporter):
    target = "onnx"
    suffix = ".onnx"
    precisions = (Precision.FP32, Precision.INT8, Precision.INT8_DYNAMIC)
    export_modules = ("onnx", "onnxscript", "onnxruntime.quantization")
    runtime_modules = ("onnxruntime",)
    format = "onnx"
    libraries = ("onnx", "onnxruntime", "onnxscript")
    runtime_pip = "onnxruntime"
    android_hint = ("onnxruntime_perf_test must be built from the onnxruntime sources with the NDK; "
                    "benchmark the .pte or .tflite bundle instead")
    runs_in_browser = True
    colour = "#2ca02c"
    # the word table is int8 by default here; --keep-float embeddings (or the fallback) keeps it float
    default_float_modules = ("classifier",)

    def export(self, req: ExportRequest) -> Artifact:
        if req.quantize not in self.quantize_modes:
            raise ExportError(f"ONNX does not support --quantize {req.quantize}",
                              f"use one of {', '.join(self.quantize_modes)}")
        model = req.model.eval()
        args = req.example_args()
        fp32 = req.out_dir / "model.fp32.onnx"
        # torch configures its loggers on import, so quieten the exporter's chatter here
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        max_pos = model.config.max_seq_len
        batch = torch.export.Dim("batch", min=1, max=1024)
        seq = torch.export.Dim("seq", min=2, max=max_pos)
        try:
            with quiet("the ONNX exporter") as log, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, args, str(fp32), dynamo=True, opset_version=OPSET, verbose=False,
                                  input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                                  dynamic_shapes=({0: batch, 1: seq},) * 3, external_data=False)
        except Exception as exc:  # exporter failures name the op in the first line
            first = next((l for l in str(exc).splitlines() if l.strip()), type(exc).__name__)
            said = f"; the exporter's last output: {log.tail()}" if log.text.strip() else ""
            raise ExportError(f"ONNX export failed: {first[:300]}{said}", "an op has no ONNX translation") from None
        path = req.out_dir / f"model{self.suffix}"
        quant: dict[str, Any] = {"scheme": "none"}
        precision = self.precision_for(req.quantize)
        if precision.is_float:
            fp32.rename(path)
        else:
            from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
            from onnxruntime.quantization.shape_inference import quant_pre_process

            graph = _graph(fp32)
            if req.float_modules and not _module_nodes(graph, req.float_modules):
                raise ExportError(f"no ONNX nodes found for float modules {', '.join(req.float_modules)}",
                                  "name modules as in the PyTorch model, e.g. encoder.layer.0")
            # onnxruntime never quantizes the embeddings module (its projection, where there is one)
            exclude = _module_nodes(graph, list(dict.fromkeys(["embeddings", *req.float_modules])))
            del graph
            pre = req.out_dir / "model.pre.onnx"
            # symbolic shape inference fails on these graphs; ORT's own optimizer pass is enough
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            _drop_value_info(pre)
            if precision == Precision.INT8:
                if not req.calibration:
                    raise ExportError("the calibration set is empty", "pass --calibration DATA with examples")
                quantize_static(str(pre), str(path), _Calibration(req.calibration), quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                                op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=exclude,
                                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
                quant = {"scheme": "static int8 QDQ (onnxruntime quantize_static, per-channel symmetric weights, "
                                   "asymmetric per-tensor activations, MinMax calibration)"}
            else:
                # dynamic mode first rewrites each Gemm as NAME_MatMul + NAME_Add and only then
                # applies nodes_to_exclude, so an excluded Gemm (the classifier) must be named
                # both ways or it is silently quantized (that cost 21 accuracy points here)
                quantize_dynamic(str(pre), str(path), weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=QUANTIZED_OPS,
                                 nodes_to_exclude=exclude + [f"{n}_MatMul" for n in exclude])
                quant = {"scheme": "dynamic int8 (onnxruntime quantize_dynamic: int8 weights, activations "
                                   "quantized at run time)"}
            pre.unlink()
            leaked = quantized_nodes_from(path, exclude)
            if leaked:
                raise ExportError(f"onnxruntime quantized nodes of float modules: {', '.join(leaked[:5])}",
                                  "this is an edgebert bug; export with --quantize none meanwhile")
            kept = ("embeddings is a float module" if "embeddings" in req.float_modules
                    else quantize_word_table(path))
            quant["embedding"] = f"float word embeddings ({kept})" if kept else SCHEME
            quant["float_modules"] = list(req.float_modules)
            quant["float_nodes"] = len(exclude)
            fp32.unlink()
        for leftover in req.out_dir.glob("*.data"):
            leftover.unlink()
        _drop_stack_traces(path)
        return Artifact(
            target=self.target, path=path, precision=precision,
            inputs=[TensorSpec(n, "int64", ["batch", "seq"]) for n in INPUT_NAMES],
            outputs=[TensorSpec(OUTPUT_NAME, "float32", ["batch", model.config.num_labels])],
            quantization=quant, sequence=SequenceShape.dynamic(req.seq_len),
        )

    def runner(self, artifact: Artifact):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(artifact.path), opts, providers=["CPUExecutionProvider"])

        def run(input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
            feed = {n: np.ascontiguousarray(a, dtype=np.int64)
                    for n, a in zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids))}
            return session.run([OUTPUT_NAME], feed)[0].astype(np.float32)

        return run

    def inspect(self, artifact: Artifact) -> dict[str, Any]:
        """QDQ coverage: how many MatMul/Gemm see int8 inputs, weight bytes by dtype (an int8
        word table counts as int8), and whether the word embeddings are read as int8 rows."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(artifact.path)).graph
        ops = Counter(n.op_type for n in graph.node)
        weight_bytes: Counter[str] = Counter()
        int8_tables = set()
        for init in graph.initializer:
            arr = numpy_helper.to_array(init)
            weight_bytes[str(arr.dtype)] += arr.nbytes
            if arr.dtype == np.int8 and arr.ndim == 2:
                int8_tables.add(init.name)
        int8_rows = any(n.op_type == "Gather" and n.input[0] in int8_tables for n in graph.node)
        producers = {o: n.op_type for n in graph.node for o in n.output}
        compute = [n for n in graph.node if n.op_type in QUANTIZED_OPS + ["MatMulInteger", "QLinearMatMul"]]
        if artifact.precision == "int8":
            covered = sum(1 for n in compute if producers.get(n.input[0]) == "DequantizeLinear")
        elif artifact.precision == "int8-dynamic":
            covered = ops.get("MatMulInteger", 0) + ops.get("DynamicQuantizeMatMul", 0)
            compute += [n for n in graph.node if n.op_type == "DynamicQuantizeMatMul"]
        else:
            covered = 0
        total_w = sum(weight_bytes.values())
        int8_w = weight_bytes.get("int8", 0) + weight_bytes.get("uint8", 0)
        share = covered / len(compute) if compute else 0.0
        summary = (f"{covered} of {len(compute)} MatMul/Gemm run in int8 ({share:.0%}); "
                   f"{int8_w / total_w:.0%} of weight bytes int8"
                   f"{'; word embeddings int8 per row' if int8_rows else ''}" if artifact.precision != "fp32"
                   else f"float32: {len(compute)} MatMul/Gemm, {total_w / 1e6:.1f} MB of weights")
        return {"summary": summary, "op_counts": dict(ops), "quantized_matmuls": covered,
                "matmuls": len(compute), "weight_bytes_by_dtype": dict(weight_bytes), "int8_word_embeddings": int8_rows,
                "int8_share": round(share, 4) if artifact.precision != "fp32" else 0.0}
