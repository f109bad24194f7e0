"""CoreML `.mlpackage` (ML Program, iOS 17+ / macOS 14+: CPU, GPU and Neural Engine).

torch.export(...).run_decompositions({}) -> coremltools ``ct.convert(convert_to="mlprogram")``.
Inputs are int32 [1, seq_len] named ``input_ids``, ``attention_mask``, ``token_type_ids``;
the output ``logits`` is float32.

Precisions:
- ``none``: fp16 compute (CoreML's normal deployment precision, what the Neural Engine runs).
- ``int8``: W8A8. Activation scales come from torchao PT2E calibration in torch (the XNNPACK
  scheme shared with ExecuTorch); the converted graph's quantize/dequantize pairs become
  CoreML ``quantize``/``dequantize`` ops and int8 weights ``constexpr_affine_dequantize``
  (activation int8 needs iOS 17).
- ``int8-weights``: the fp16 model with int8 per-channel weights
  (``coremltools.optimize.coreml.linear_quantize_weights``); compute stays fp16.

CoreML cannot run on Linux: ``runner`` raises there, so the artifact's numerics stay
unverified off macOS. What Linux can check for real is the saved program: ``check_structure``
compares its I/O and its op, weight and per-linear census with the precision asked for.
``Artifact.reference`` is set only where a torch graph with the artifact's quantization exists
(the converted PT2E graph for int8); it is not the artifact, so it can reject but never pass.
``inspect`` reads the saved spec: I/O, ops by type and output dtype, quantize/dequantize ops
and weight bytes by dtype.
"""

from __future__ import annotations

import platform
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import register_exporter
from ..base import INPUT_NAMES, OUTPUT_NAME, Artifact, Exporter, ExportError, ExportRequest, Precision, TensorSpec

# weights with at most this many elements stay fp16 under int8-weights (coremltools default: 2048)
WEIGHT_THRESHOLD = 512
_QUANT_OPS = ("quantize", "dequantize", "constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")


def _first_line(exc: Exception) -> str:
    return next((l for l in str(exc).splitlines() if l.strip()), type(exc).__name__)[:300]


def _register_alias_op() -> None:
    """torch.export emits ``aten.alias`` when seq_len == max_position_embeddings (a full-width
    slice of the position table); coremltools 9 has no converter for it. It is a no-op."""
    from coremltools.converters.mil.frontend.torch import ops
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    if _TORCH_OPS_REGISTRY.get_func("alias") is None:
        _TORCH_OPS_REGISTRY.set_func_by_name(ops.noop, "alias")


def _const_prefixes(float_modules: list[str]) -> tuple[str, ...]:
    """Module names -> the MIL const-name prefixes torch.export gives their parameters."""
    return tuple("p_" + m.replace(".", "_").lower() + "_" for m in float_modules)


@register_exporter
class CoreMLExporter(Exporter):
    target = "coreml"
    suffix = ".mlpackage"
    precisions = (Precision.FP16, Precision.INT8, Precision.INT8_WEIGHTS)
    export_modules = ("coremltools", "torchao.quantization.pt2e")
    runtime_modules = ("coremltools",)
    runs_on = ("Darwin",)
    format = "coreml"
    libraries = ("coremltools",)
    android_hint = "Core ML models run only on Apple devices: measure the .mlpackage with Xcode's Core ML report"
    colour = "#9467bd"

    def export(self, req: ExportRequest) -> Artifact:
        import coremltools as ct

        if req.quantize not in self.quantize_modes:
            raise ExportError(f"CoreML does not support --quantize {req.quantize}",
                              f"use one of {', '.join(self.quantize_modes)}")
        _register_alias_op()
        model = req.model.eval()
        args = req.example_args()
        known = dict(model.named_modules())
        missing = [m for m in req.float_modules if m not in known]
        if missing:
            raise ExportError(f"float module(s) {', '.join(missing)} not found in the model",
                              "use module names such as encoder.layer.0 or classifier")
        notes: list[str] = []
        if req.quantize == "int8":
            from ..pt2e import calibrate_and_convert, xnnpack_quantizer

            graph = calibrate_and_convert(model, args, xnnpack_quantizer(req.float_modules, model=model),
                                          req.calibration)
            reference, to_export, precision = graph, graph, Precision.INT8
            quant = {"scheme": "W8A8: static int8 activations and per-channel symmetric int8 weights, scales "
                               "from torchao PT2E calibration (XNNPACKQuantizer); CoreML quantize/dequantize ops, "
                               "fp16 compute between them", "calibration_examples": len(req.calibration),
                     "float_modules": list(req.float_modules), "minimum_deployment_target": "iOS17"}
        else:
            # no torch graph has fp16 / coremltools-int8 weight numerics: comparing the source
            # model with itself would prove nothing
            reference, to_export = None, model
            precision = self.precision_for(req.quantize)
            quant = {"scheme": "none (fp16 compute)"} if req.quantize == "none" else {
                "scheme": "int8 weights only (coremltools linear_quantize_weights, linear_symmetric, per-channel); "
                          "fp16 compute", "weight_threshold": WEIGHT_THRESHOLD,
                "float_modules": list(req.float_modules)}
        try:
            program = torch.export.export(to_export, args, strict=False).run_decompositions({})
        except Exception as exc:  # many exception types; all mean the graph does not export
            raise ExportError(f"torch.export failed: {_first_line(exc)}",
                              "the model uses an op or control flow torch.export cannot capture") from None
        seq = req.seq_len
        try:
            mlmodel = ct.convert(
                program,
                inputs=[ct.TensorType(name=n, shape=(1, seq), dtype=np.int32) for n in INPUT_NAMES],
                outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
                convert_to="mlprogram",
                minimum_deployment_target=ct.target.iOS17,
                compute_precision=ct.precision.FLOAT16,
            )
            if req.quantize == "int8-weights":
                mlmodel = self._quantize_weights(mlmodel, req.float_modules)
        except ExportError:
            raise
        except Exception as exc:  # coremltools names the unsupported op in its first line
            raise ExportError(f"CoreML conversion failed: {_first_line(exc)}",
                              "an op in the model has no CoreML converter") from None
        mlmodel.short_description = "edgebert text classifier"
        labels = list(getattr(model.config, "label_names", None) or [])
        if labels:
            mlmodel.user_defined_metadata["edgebert.labels"] = ",".join(labels)
        mlmodel.user_defined_metadata["edgebert.precision"] = str(precision)
        path = req.out_dir / f"model{self.suffix}"
        mlmodel.save(str(path))
        notes.append("CoreML runs only on macOS/iOS: elsewhere only its structure (I/O, op and weight census) "
                     "is checked and its numerics are unverified")
        return Artifact(
            target=self.target, path=path, precision=precision,
            inputs=[TensorSpec(n, "int32", [1, seq]) for n in INPUT_NAMES],
            outputs=[TensorSpec(OUTPUT_NAME, "float32", [1, model.config.num_labels])],
            reference=reference, notes=notes, quantization=quant,
        )

    @staticmethod
    def _quantize_weights(mlmodel, float_modules: list[str]):
        import coremltools.optimize.coreml as cto

        op_cfg = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                             weight_threshold=WEIGHT_THRESHOLD)
        skip = _const_prefixes(float_modules)
        by_name = {}
        if skip:
            for fn in mlmodel._mil_program.functions.values():
                for op in fn.find_ops(op_type="const"):
                    if op.name.lower().startswith(skip):
                        by_name[op.name] = None
        config = cto.OptimizationConfig(global_config=op_cfg, op_name_configs=by_name or None)
        return cto.linear_quantize_weights(mlmodel, config=config)

    def runner(self, artifact: Artifact):
        if platform.system() != "Darwin":
            raise ExportError("CoreML models run only on macOS/iOS",
                              "here only its structure (I/O, op and weight census) is checked; run it on a Mac "
                              "to check its numerics")
        import coremltools as ct

        mlmodel = ct.models.MLModel(str(artifact.path))

        def run(input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
            feeds = dict(zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids)))
            out = mlmodel.predict({n: np.asarray(v).astype(np.int32) for n, v in feeds.items()})
            return np.asarray(out[OUTPUT_NAME], dtype=np.float32).reshape(1, -1)

        return run

    def inspect(self, artifact: Artifact) -> dict[str, Any]:
        return mlpackage_census(artifact.path)

    def check_structure(self, artifact: Artifact) -> dict[str, Any]:
        """What can be verified without running Core ML: the saved program against the request."""
        census, linears = mlpackage_census(artifact.path), linear_census(artifact.path)
        problems = structure_problems(census, linears, artifact)
        return {"passed": not problems, "problems": problems,
                "checked": "saved ML Program spec: input/output names, dtypes and shapes; recorded precision; "
                           "quantize/dequantize and constexpr weight ops; each linear's weight and input source",
                "linears": {"total": len(linears),
                            "int8_weights": sum(l["weight_op"] in _WEIGHT_DEQUANT for l in linears),
                            "int8_inputs": sum(l["input_op"] == "dequantize" for l in linears)}}


# --------------------------------------------------------------------------- inspect

_MIL_ITEMSIZE = {"FLOAT16": 2, "FLOAT32": 4, "FLOAT64": 8, "BFLOAT16": 2, "INT8": 1, "UINT8": 1, "INT16": 2,
                 "UINT16": 2, "INT32": 4, "UINT32": 4, "INT64": 8, "UINT64": 8, "BOOL": 1, "INT4": 0.5,
                 "UINT4": 0.5}
_MIL_SHORT = {"FLOAT16": "fp16", "FLOAT32": "fp32", "FLOAT64": "fp64", "BFLOAT16": "bf16"}


def _mil_dtype(tensor_type) -> str:
    from coremltools.proto import MIL_pb2

    name = MIL_pb2.DataType.Name(tensor_type.dataType)
    return _MIL_SHORT.get(name, name.lower())


def _value_bytes(value) -> tuple[str, int, list[int]] | None:
    """(dtype, bytes, dims) of a tensor-valued constant (in weight.bin or inline); None for scalars."""
    from coremltools.proto import MIL_pb2

    if value.WhichOneof("value") not in ("blobFileValue", "immediateValue") or not value.type.HasField("tensorType"):
        return None
    tt = value.type.tensorType
    dims = [d.constant.size for d in tt.dimensions]
    if not dims:
        return None
    n = int(np.prod(dims))
    return _mil_dtype(tt), int(n * _MIL_ITEMSIZE.get(MIL_pb2.DataType.Name(tt.dataType), 0)), dims


def _walk(block):
    for op in block.operations:
        yield op
        for sub in op.blocks:
            yield from _walk(sub)


def _feature(desc) -> dict[str, Any]:
    from coremltools.proto import FeatureTypes_pb2

    arr = desc.type.multiArrayType
    dt = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(arr.dataType)
    return {"name": desc.name, "dtype": {"FLOAT16": "float16", "FLOAT32": "float32", "DOUBLE": "float64"}
            .get(dt, dt.lower()), "shape": [int(s) for s in arr.shape]}


def _main(path: Path):
    """(spec, main function, its block) of a saved .mlpackage, read without loading Core ML."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    if spec.WhichOneof("Type") != "mlProgram":
        raise ExportError(f"{path.name} is not an ML Program", "re-export with edgebert")
    fn = spec.mlProgram.functions["main"]
    return spec, fn, fn.block_specializations[fn.opset]


def mlpackage_census(path: str | Path) -> dict[str, Any]:
    """Read a saved .mlpackage spec: I/O, op census by type/output dtype, weight bytes by dtype."""
    path = Path(path)
    spec, fn, block = _main(path)
    ops: Counter[str] = Counter()
    by_dtype: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    matrix_elems: Counter[str] = Counter()  # elements of constants with >= 2 dims (weights, embeddings)
    quant_ops: Counter[str] = Counter({k: 0 for k in _QUANT_OPS})
    compute_total = 0
    for op in _walk(block):
        for attr_name, value in op.attributes.items():
            if attr_name == "name":
                continue
            got = _value_bytes(value)
            if got:
                weights[got[0]] += got[1]
                if len(got[2]) >= 2:
                    matrix_elems[got[0]] += int(np.prod(got[2]))
        if op.type == "const":
            continue
        ops[op.type] += 1
        if op.type in quant_ops:
            quant_ops[op.type] += 1
        elif op.type.startswith("constexpr_"):
            quant_ops[op.type] += 1
        else:
            compute_total += 1
            out = op.outputs[0] if op.outputs else None
            if out is not None and out.type.HasField("tensorType"):
                by_dtype[_mil_dtype(out.type.tensorType)] += 1
    total_w = sum(weights.values())
    total_m = sum(matrix_elems.values())
    # like the other targets: the share of matrix weights (embeddings included) stored int8
    int8_m = matrix_elems.get("int8", 0) + matrix_elems.get("uint8", 0)
    int8_share = round(int8_m / total_m, 4) if total_m else 0.0
    blob = path / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    n_q, n_dq = quant_ops["quantize"], quant_ops["dequantize"]
    n_wq = quant_ops["constexpr_affine_dequantize"] + quant_ops["constexpr_blockwise_shift_scale"]
    compute = ", ".join(f"{k} x{v}" for k, v in by_dtype.most_common(3))
    if n_q or n_dq:
        summary = (f"W8A8: {n_q} quantize / {n_dq} dequantize ops around the matmuls, {n_wq} int8 weight tensors "
                   f"({int8_share:.0%} of matrix weights int8); other ops compute in fp16 ({compute})")
    elif n_wq:
        summary = (f"int8 weights: {n_wq} weight tensors stored int8 ({int8_share:.0%} of matrix weights), "
                   f"dequantized at load; compute fp16 ({compute})")
    else:
        summary = f"fp16: {compute_total} ops ({compute}), {total_w / 1e6:.2f} MB weights, nothing quantized"
    return {
        "summary": summary, "int8_share": int8_share,
        "inputs": [_feature(d) for d in spec.description.input],
        "outputs": [_feature(d) for d in spec.description.output],
        "spec_version": spec.specificationVersion, "opset": fn.opset,
        "ops": dict(ops), "ops_by_dtype": dict(by_dtype), "quant_ops": dict(quant_ops),
        "weight_bytes": dict(weights), "matrix_weight_elements": dict(matrix_elems),
        "weight_file_bytes": blob.stat().st_size if blob.exists() else 0,
        "package_bytes": size,
        "metadata": dict(spec.description.metadata.userDefined),
    }


# --------------------------------------------------------------------------- structure gate

_WEIGHT_DEQUANT = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")


def linear_census(path: str | Path) -> list[dict[str, Any]]:
    """Each linear op: the const naming its module, where its weight and input come from, its dtype.

    A weight from ``const`` is stored as is (fp16); from a constexpr dequantize op it is int8 in
    the file; an input from ``dequantize`` is an int8 activation."""
    _, _, block = _main(Path(path))
    producer = {out.name: op for op in _walk(block) for out in op.outputs}

    def source(op, arg: str):
        names = [b.name for b in op.inputs[arg].arguments if b.WhichOneof("binding") == "name"] if arg in op.inputs else []
        return producer.get(names[0]) if names else None

    rows = []
    for op in _walk(block):
        if op.type != "linear":
            continue
        w, x, b = source(op, "weight"), source(op, "x"), source(op, "bias")
        wt = w.outputs[0].type.tensorType if w is not None else None
        # torch.export names parameters p_<module>_...; the bias keeps it even when the weight is a
        # PT2E dequantize op
        named = b if b is not None and b.type == "const" else w
        rows.append({"const": named.outputs[0].name if named is not None else "",
                     "weight_op": w.type if w is not None else None,
                     "weight_elements": int(np.prod([d.constant.size for d in wt.dimensions])) if wt else 0,
                     "input_op": x.type if x is not None else None,
                     "dtype": _mil_dtype(op.outputs[0].type.tensorType)})
    return rows


def _io(specs: list[dict]) -> str:
    return ", ".join(f"{s['name']} {s['dtype']}{list(s['shape'])}" for s in specs) or "none"


def structure_problems(census: dict[str, Any], linears: list[dict[str, Any]], artifact: Artifact) -> list[str]:
    """Where the saved program contradicts the artifact's declared I/O and precision (empty: consistent)."""
    problems = []
    for kind, declared in (("inputs", artifact.inputs), ("outputs", artifact.outputs)):
        want = [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape)} for s in declared]
        if census[kind] != want:
            problems.append(f"{kind} are {_io(census[kind])}, expected {_io(want)}")
    precision = artifact.precision
    recorded = census["metadata"].get("edgebert.precision")
    if recorded != precision:
        problems.append(f"the program records precision {recorded}, the artifact claims {precision}")
    if not linears:
        return problems + ["the program has no linear ops: nothing confirms its precision"]
    q = census["quant_ops"]
    n_act, n_wq = q["quantize"] + q["dequantize"], sum(q[k] for k in _WEIGHT_DEQUANT)
    skip = _const_prefixes((artifact.quantization or {}).get("float_modules") or [])
    quantizable = [l for l in linears if not l["const"].lower().startswith(skip)]
    leaked = [l for l in linears if l not in quantizable and l["weight_op"] in _WEIGHT_DEQUANT]

    def first(rows):
        return f" (first: {re.sub(r'^p_|_(weight|bias)(_.*)?$', '', rows[0]['const']) or 'unnamed'})"

    if precision == "fp16":
        if n_act or n_wq:
            problems.append(f"fp16 was asked for but the program has {n_act} quantize/dequantize and {n_wq} int8 "
                            "weight ops")
        if census["weight_bytes"].get("int8") or census["weight_bytes"].get("uint8"):
            problems.append("fp16 was asked for but the program stores int8 weights")
        bad = [l for l in linears if l["weight_op"] != "const" or l["dtype"] != "fp16"]
        if bad:
            problems.append(f"{len(bad)} of {len(linears)} linears do not compute in fp16 from fp16 weights{first(bad)}")
    elif precision == "int8-weights":
        if n_act:
            problems.append(f"int8-weights was asked for but the program quantizes activations ({n_act} "
                            "quantize/dequantize ops)")
        want = [l for l in quantizable if l["weight_elements"] > WEIGHT_THRESHOLD]
        plain = [l for l in want if l["weight_op"] not in _WEIGHT_DEQUANT]
        if plain:
            problems.append(f"int8-weights was asked for but {len(plain)} of {len(want)} linears outside the float "
                            f"modules keep fp16 weights{first(plain)}")
    elif precision == "int8":
        if not (q["quantize"] and q["dequantize"]):
            problems.append("W8A8 (int8) was asked for but the program has no activation quantize/dequantize ops")
        plain = [l for l in quantizable if l["weight_op"] not in _WEIGHT_DEQUANT or l["input_op"] != "dequantize"]
        if plain:
            problems.append(f"W8A8 (int8) was asked for but {len(plain)} of {len(quantizable)} linears outside the "
                            f"float modules lack int8 weights or a dequantized int8 input{first(plain)}")
    else:
        problems.append(f"no structural rule for precision {precision}")
    if leaked:
        problems.append(f"{len(leaked)} linears of the float modules have int8 weights{first(leaked)}")
    return problems
