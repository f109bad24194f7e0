"""LiteRT / TFLite `.tflite` (Android CPU/GPU/NPU delegates, iOS, MediaPipe).

litert-torch converts the torch graph straight to a flatbuffer (no TensorFlow). Inputs are
passed as keyword arguments so the signature keeps the names ``input_ids``,
``attention_mask``, ``token_type_ids``; the output is named ``logits``. Inputs are int32
([1, seq_len], static): LiteRT downcasts 64-bit I/O and phone runtimes feed int32 ids.

``int8`` is static int8 through litert-torch's own PT2E quantizer (per-channel symmetric
weights, per-tensor activations calibrated on the calibration set), converted in STATIC
QDQ mode. The output tensor of such a model is int8 as well; ``runner`` dequantizes it
with the recorded (scale, zero_point). The word-embedding table is then stored int8 per row
(``edgebert.exporters.tflite_embeddings``) unless ``embeddings`` is among the float modules;
position/type embeddings and LayerNorm stay float.

Bundles get TFLite Model Metadata (``edgebert.exporters.tflite_metadata``: vocab, input
roles, labels) so the TFLite Task Library ``BertNLClassifier`` and MediaPipe
``TextClassifier`` run the model with their built-in WordPiece tokenizer. The classifier
stays float by default (``TFLiteExporter.default_float_modules``) so the logits are float32,
which MediaPipe requires.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgebert.quiet import quiet

from .. import register_exporter
from ..base import INPUT_NAMES, OUTPUT_NAME, Artifact, Exporter, ExportError, ExportRequest, Precision, TensorSpec
from ..pt2e import calibrate_and_convert
from ..tflite_embeddings import (SCHEME, WORD_MODULE, keeps_float, per_row_int8, quantize_word_table, word_table,
                                 word_table_qspec)
from ..tflite_metadata import METADATA_NAME, as_text, tensor_name


class _NamedOutput(torch.nn.Module):
    """Returns ``{"logits": ...}`` so the LiteRT signature names its output ``logits``."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return {OUTPUT_NAME: self.model(input_ids, attention_mask, token_type_ids)}


def _first_line(exc: Exception) -> str:
    return next((l for l in str(exc).splitlines() if l.strip()), type(exc).__name__)[:300]


def litert_quantizer(float_modules: list[str] | tuple[str, ...] = ()):
    """litert-torch's PT2E quantizer (static, per-channel symmetric) on nn.Linear ops only,
    named modules left float (why linears only: see ``pt2e.linear_modules``), plus the word
    table per row unless it is float (``tflite_embeddings``: the converter folds that one back
    to float32, so it only makes the PT2E reference compute what the artifact computes).

    ``PT2EQuantizer.set_module_name(name, None)`` asserts, and its name filter does not match
    the ``nn_module_stack`` keys torch 2.13 writes, so the filter is applied here on the
    stack's fully qualified names and the innermost module's type.
    """
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.pt2e_quantizer_utils import _mark_nodes_as_annotated
    from torchao.quantization.pt2e.quantizer.utils import annotate_input_qspec_map

    skip = tuple(float_modules)
    table_spec = None if keeps_float(skip) else word_table_qspec()

    def quantize_node(node) -> bool:
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        if not stack or not str(stack[-1][1]).endswith("Linear"):
            return False
        return not any(p == s or p.startswith(s + ".") for p, _ in stack for s in skip)

    class _Quantizer(PT2EQuantizer):
        def _annotate_for_static_quantization_config(self, model):
            self._annotate_all_static_patterns(model, self.global_config, quantize_node)
            for node in model.graph.nodes if table_spec is not None else ():
                stack = list((node.meta.get("nn_module_stack") or {}).values())
                if node.target == torch.ops.aten.embedding.default and stack and stack[-1][0] == WORD_MODULE:
                    annotate_input_qspec_map(node, node.args[0], table_spec)
                    _mark_nodes_as_annotated([node, node.args[0]])
            return model

    q = _Quantizer()
    q.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    return q


def _check_float_modules(model: torch.nn.Module, names: list[str]) -> None:
    known = dict(model.named_modules())
    missing = [n for n in names if n not in known]
    if missing:
        raise ExportError(f"float module(s) {', '.join(missing)} not found in the model",
                          "use module names such as encoder.layer.0.output.dense or classifier")


def _output_quantization(path: Path) -> tuple[str, tuple[float, int] | None]:
    from ai_edge_litert.interpreter import Interpreter

    out = Interpreter(model_path=str(path)).get_output_details()[0]
    dtype = np.dtype(out["dtype"]).name
    scale, zp = out["quantization"]
    if dtype in ("int8", "uint8") and scale:
        return dtype, (float(scale), int(zp))
    return dtype, None


@register_exporter
class TFLiteExporter(Exporter):
    target = "tflite"
    suffix = ".tflite"
    precisions = (Precision.FP32, Precision.INT8)
    export_modules = ("litert_torch", "torchao.quantization.pt2e", "ai_edge_quantizer")
    runtime_modules = ("ai_edge_litert.interpreter",)
    format = "tflite"
    libraries = ("litert-torch", "ai-edge-litert", "ai-edge-quantizer", "torchao")
    runtime_pip = "ai-edge-litert"
    android_runner = "benchmark_model"
    runs_in_browser = True
    colour = "#ff7f0e"
    # the word table is int8 by default here; --keep-float embeddings (or the fallback) keeps it float
    default_float_modules = ("classifier",)

    def finalize_bundle(self, bundle_dir: Path, artifact_file: Path, labels: list[str]) -> list[str]:
        from ..tflite_metadata import write_bundle_metadata

        return write_bundle_metadata(bundle_dir, artifact_file, labels)

    def export(self, req: ExportRequest) -> Artifact:
        import litert_torch

        if req.quantize not in self.quantize_modes:
            raise ExportError(f"TFLite does not support --quantize {req.quantize}",
                              f"use one of {', '.join(self.quantize_modes)}")
        model = req.model.eval()
        args = req.example_args()
        notes: list[str] = []
        reference = None
        quant_config = None
        quant: dict[str, Any] = {"scheme": "none"}
        if req.quantize == "int8":
            from litert_torch.quantize.quant_config import QuantConfig

            _check_float_modules(model, list(req.float_modules))
            quantizer = litert_quantizer(req.float_modules)
            # LiteRT's STATIC QDQ conversion needs float weights + quantize/dequantize pairs: folded
            # int8 constants fail with "'stablehlo.uniform_dequantize' op operand #0 must be ...".
            reference = calibrate_and_convert(model, args, quantizer, req.calibration, fold_quantize=False)
            to_convert = _NamedOutput(reference)
            quant_config = QuantConfig(pt2e_quantizer=quantizer)
            # int64 sample inputs: the PT2E graph was traced with int64; LiteRT downcasts I/O to int32
            sample = dict(zip(INPUT_NAMES, args))
            quant = {"scheme": "static int8 (litert-torch PT2EQuantizer: per-channel symmetric int8 weights, "
                               "per-tensor int8 activations, STATIC QDQ conversion)",
                     "calibration_examples": len(req.calibration), "float_modules": list(req.float_modules)}
        else:
            to_convert = _NamedOutput(model)
            sample = {n: a.to(torch.int32) for n, a in zip(INPUT_NAMES, args)}
        to_convert.training = False  # not .eval(): an exported GraphModule refuses train()/eval()
        path = req.out_dir / f"model{self.suffix}"
        try:
            with quiet("LiteRT conversion") as log:
                edge = litert_torch.convert(to_convert, (), sample_kwargs=sample, quant_config=quant_config)
                edge.export(str(path))
        except ExportError:
            raise
        except Exception as exc:  # converter errors name the failing op in their first line
            said = f"; the converter's last output: {log.tail()}" if log.text.strip() else ""
            raise ExportError(f"LiteRT conversion failed: {_first_line(exc)}{said}",
                              "the model uses an op litert-torch cannot lower") from None
        if req.quantize == "int8":
            words = dict(model.named_modules()).get(WORD_MODULE)
            kept = ("embeddings is a float module" if keeps_float(req.float_modules)
                    else f"the model has no {WORD_MODULE}" if words is None
                    else quantize_word_table(path, tuple(words.weight.shape)))
            quant["embedding"] = f"float word embeddings ({kept})" if kept else SCHEME
        out_dtype, oq = _output_quantization(path)
        if oq is not None:
            quant["output"] = {"dtype": out_dtype, "scale": oq[0], "zero_point": oq[1]}
            notes.append(f"the logits tensor is {out_dtype}: dequantize as (q - {oq[1]}) * {oq[0]:.6g}; "
                         "MediaPipe's TextClassifier accepts only float32/uint8 outputs, so keep 'classifier' "
                         "in float_modules to get float32 logits for it")
        seq = req.seq_len
        return Artifact(
            target=self.target, path=path, precision=self.precision_for(req.quantize),
            inputs=[TensorSpec(n, "int32", [1, seq]) for n in INPUT_NAMES],
            outputs=[TensorSpec(OUTPUT_NAME, out_dtype, [1, model.config.num_labels])],
            reference=reference, output_quantization=oq, notes=notes, quantization=quant,
        )

    def runner(self, artifact: Artifact):
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(artifact.path))
        sigs = interp.get_signature_list()
        key = "serving_default" if "serving_default" in sigs else next(iter(sigs))
        run_sig = interp.get_signature_runner(key)
        in_dtypes = {n: np.dtype(d["dtype"]) for n, d in run_sig.get_input_details().items()}
        missing = [n for n in INPUT_NAMES if n not in in_dtypes]
        if missing:
            raise ExportError(f"{artifact.path.name} has no input(s) named {', '.join(missing)}",
                              "re-export the model with edgebert")
        with quiet("the TFLite interpreter"):  # the first invoke announces "Created TensorFlow Lite XNNPACK delegate"
            run_sig(**{n: np.zeros(d["shape"], d["dtype"]) for n, d in run_sig.get_input_details().items()})
        out_names = list(run_sig.get_output_details())
        out_name = OUTPUT_NAME if OUTPUT_NAME in out_names else out_names[0]
        oq = artifact.output_quantization

        def run(input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
            feeds = dict(zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids)))
            cast = {n: np.ascontiguousarray(np.asarray(v), dtype=in_dtypes[n]) for n, v in feeds.items()}
            y = run_sig(**cast)[out_name]
            if oq is not None and y.dtype in (np.int8, np.uint8):
                y = (y.astype(np.float32) - oq[1]) * oq[0]
            return np.asarray(y, dtype=np.float32).reshape(1, -1)

        return run

    def inspect(self, artifact: Artifact) -> dict[str, Any]:
        return tflite_census(artifact.path, quantized=artifact.precision.startswith("int8"))


# --------------------------------------------------------------------------- inspect

_WEIGHT_OPS = {"FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D"}


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def tflite_census(path: Path, quantized: bool = True) -> dict[str, Any]:
    """Tensor types (count, bytes), ops by builtin name and by compute dtype, int8 weight share.

    ``int8_share`` is the share of matrix-weight elements (constant tensors with >= 2 dims:
    linear weights and embedding tables) stored int8, the definition the other targets use;
    ``matmul_int8_share`` the share of FULLY_CONNECTED/BATCH_MATMUL ops computing in int8;
    ``word_embeddings`` the stored dtype of the largest table a row lookup reads and its
    number of scales (one per row when int8)."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    type_names = {k: v.lower() for k, v in _enum_names(fb.TensorType).items()}
    op_names = _enum_names(fb.BuiltinOperator)
    sg = model.subgraphs[0]

    def nbytes(t) -> int:
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        return 0 if data is None else len(data)

    const_ids = {i for i, t in enumerate(sg.tensors) if nbytes(t)}
    weights: Counter[str] = Counter()
    weight_count: Counter[str] = Counter()
    matrix_elems: Counter[str] = Counter()  # elements of constant tensors with >= 2 dims
    activations: Counter[str] = Counter()
    for i, t in enumerate(sg.tensors):
        dt = type_names.get(t.type, str(t.type))
        if i in const_ids:
            weights[dt] += nbytes(t)
            weight_count[dt] += 1
            shape = [int(x) for x in (t.shape if t.shape is not None else [])]
            if len(shape) >= 2:
                matrix_elems[dt] += int(np.prod(shape))
        else:
            activations[dt] += 1
    ops: Counter[str] = Counter()
    by_dtype: Counter[str] = Counter()
    float_ops: Counter[str] = Counter()
    mm_total = mm_int8 = 0
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = op_names.get(flatbuffer_utils.get_builtin_code_from_operator_code(code), "CUSTOM")
        if name == "CUSTOM" and code.customCode:
            name = f"CUSTOM:{code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode}"
        ops[name] += 1
        outs = [o for o in (op.outputs if op.outputs is not None else []) if o >= 0]
        dt = type_names.get(sg.tensors[outs[0]].type, "?") if outs else "?"
        ins = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        # an op computes in the dtype of its (first) activation input, e.g. int8 FC with int32 bias
        act_in = [type_names.get(sg.tensors[i].type) for i in ins if i not in const_ids]
        compute = "int8" if "int8" in act_in or dt == "int8" else dt
        if name in ("QUANTIZE", "DEQUANTIZE"):
            compute = "convert"
        by_dtype[compute] += 1
        if compute == "float32":
            float_ops[name] += 1
        if name in _WEIGHT_OPS:
            mm_total += 1
            mm_int8 += compute == "int8"
    total_w = sum(weights.values())
    total_m = sum(matrix_elems.values())
    # like the other targets: the share of matrix weights (embeddings included) stored int8
    int8_share = round(matrix_elems.get("int8", 0) / total_m, 4) if total_m and quantized else 0.0
    top_float = ", ".join(f"{k} x{v}" for k, v in float_ops.most_common(4))
    words = word_table(model)
    word_note = ("" if words is None else "; word embeddings int8 per row" if per_row_int8(words)
                 else f"; word embeddings {words['dtype']}")
    n_ops = sum(ops.values())
    if quantized:
        summary = (f"int8: {int8_share:.0%} of matrix weights stored int8 ({total_w / 1e6:.2f} MB of weights); "
                   f"{mm_int8}/{mm_total} matmul ops run int8; {by_dtype.get('float32', 0)} of {n_ops} ops "
                   f"stay float32" + (f" ({top_float})" if top_float else "") + word_note)
    else:
        summary = f"fp32: {n_ops} ops, {total_w / 1e6:.2f} MB float32 weights, nothing quantized"
    io = {
        "inputs": [{"name": tensor_name(sg.tensors[i]), "dtype": type_names.get(sg.tensors[i].type),
                    "shape": [int(x) for x in sg.tensors[i].shape]} for i in sg.inputs],
        "outputs": [{"name": tensor_name(sg.tensors[i]), "dtype": type_names.get(sg.tensors[i].type),
                     "shape": [int(x) for x in sg.tensors[i].shape]} for i in sg.outputs],
    }
    return {
        "summary": summary, "int8_share": int8_share, "word_embeddings": words,
        "matmul_int8_share": round(mm_int8 / mm_total, 4) if mm_total and quantized else 0.0,
        "weight_bytes": dict(weights), "weight_tensors": dict(weight_count),
        "matrix_weight_elements": dict(matrix_elems), "activation_tensors": dict(activations),
        "ops": dict(ops), "ops_by_dtype": dict(by_dtype), "float_ops": dict(float_ops),
        "signatures": [s.signatureKey.decode() if isinstance(s.signatureKey, bytes) else s.signatureKey
                       for s in (model.signatureDefs or [])],
        "has_metadata": any(as_text(m.name) == METADATA_NAME for m in (model.metadata or [])),
        **io,
    }
