"""ExecuTorch `.pte` with the XNNPACK delegate (Android and iOS CPU).

torch.export -> (torchao PT2E static int8, per-channel weights) -> to_edge_transform_and_lower
with XnnpackPartitioner -> .pte. Ops XNNPACK does not take (LayerNorm, embedding gathers,
some shape ops) stay on ExecuTorch's portable CPU kernels; `inspect` reports that share
because undelegated ops run far slower on phones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch

from edgebert.quiet import quiet

from .. import register_exporter
from ..base import INPUT_NAMES, OUTPUT_NAME, Artifact, Exporter, ExportError, ExportRequest, Precision, TensorSpec
from ..pt2e import calibrate_and_convert, export_program, xnnpack_quantizer


@register_exporter
class ExecuTorchExporter(Exporter):
    target = "executorch"
    suffix = ".pte"
    precisions = (Precision.FP32, Precision.INT8)
    export_modules = ("executorch.exir", "executorch.backends.xnnpack.partition.xnnpack_partitioner",
                      "torchao.quantization.pt2e")
    runtime_modules = ("executorch.runtime",)
    format = "pte"
    libraries = ("executorch", "torchao")
    runtime_pip = "executorch"
    android_runner = "native"
    colour = "#1f77b4"

    def export(self, req: ExportRequest) -> Artifact:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        if req.quantize not in self.quantize_modes:
            raise ExportError(f"ExecuTorch does not support --quantize {req.quantize}",
                              f"use one of {', '.join(self.quantize_modes)}")
        args = req.example_args()
        reference = None
        quant: dict[str, Any] = {"scheme": "none"}
        if req.quantize == "int8":
            graph = calibrate_and_convert(req.model, args, xnnpack_quantizer(req.float_modules, model=req.model), req.calibration)
            reference = graph
            program = export_program(graph, args)
            quant = {"scheme": "static int8 (torchao PT2E, XNNPACKQuantizer, per-channel symmetric weights, "
                               "per-tensor activations)", "float_modules": list(req.float_modules)}
        else:
            program = export_program(req.model, args)
        try:
            with quiet("ExecuTorch lowering") as log:
                lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
                census = graph_census(lowered)
                et = lowered.to_executorch()
        except Exception as exc:  # lowering errors name the offending op in their first line
            first = next((l for l in str(exc).splitlines() if l.strip()), type(exc).__name__)
            said = f"; ExecuTorch's last output: {log.tail()}" if log.text.strip() else ""
            raise ExportError(f"ExecuTorch lowering failed: {first[:300]}{said}",
                              "an op is not supported by ExecuTorch/XNNPACK") from None
        path = req.out_dir / f"model{self.suffix}"
        path.write_bytes(et.buffer)
        seq = req.seq_len
        return Artifact(
            target=self.target, path=path, precision=self.precision_for(req.quantize),
            inputs=[TensorSpec(n, "int64", [1, seq]) for n in INPUT_NAMES],
            outputs=[TensorSpec(OUTPUT_NAME, "float32", [1, req.model.config.num_labels])],
            reference=reference, quantization=quant, details=census,
        )

    def runner(self, artifact: Artifact):
        from executorch.runtime import Runtime

        with quiet("the ExecuTorch runtime"):  # cpuinfo_utils.cpp probing /sys for the CPU model
            method = Runtime.get().load_program(str(artifact.path)).load_method("forward")

        def run(input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
            ins = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)) for a in
                   (input_ids, attention_mask, token_type_ids)]
            return method.execute(ins)[0].detach().numpy().astype(np.float32)

        return run

    def inspect(self, artifact: Artifact) -> dict[str, Any]:
        """Delegated vs portable-kernel ops, counted on the lowered graph at export time."""
        d = artifact.details
        portable: dict[str, int] = d.get("portable_ops", {})
        n_port = sum(portable.values())
        total = d.get("delegated_ops", 0) + n_port
        share = d.get("delegated_ops", 0) / total if total else 0.0
        top = ", ".join(f"{k.split('.')[-2] if '.' in k else k} x{v}"
                        for k, v in sorted(portable.items(), key=lambda kv: -kv[1])[:3])
        int8_share = _int8_share(artifact) if artifact.precision == "int8" else 0.0
        summary = (f"{share:.0%} of {total} ops delegated to XNNPACK in {d.get('delegate_segments', 0)} segment(s); "
                   f"{n_port} on portable CPU kernels" + (f" ({top})" if top else "") + _precision_words(artifact, int8_share))
        return {"summary": summary, "delegate": "XnnpackBackend", **d, "delegated_share": round(share, 4),
                "int8_share": int8_share}


def _precision_words(artifact: Artifact, int8_share: float) -> str:
    """What really runs int8: a sensitivity fallback may have kept every quantizable layer float."""
    if not int8_share:
        return "; all float32" + (" (every quantizable layer kept float)" if artifact.precision == "int8" else "")
    kept = [m for m in artifact.quantization.get("float_modules", []) if m not in ("embeddings", "classifier")]
    return (f"; {int8_share:.0%} of matrix weights int8 (linears and matmuls inside XNNPACK), "
            "LayerNorm/Softmax/embeddings float" + (f"; kept float: {', '.join(kept)}" if kept else ""))


def graph_census(lowered) -> dict[str, Any]:
    """Count ops inside XNNPACK delegate blobs and ops left outside (portable kernels)."""
    ep = lowered.exported_program()
    delegated, segments = 0, 0
    portable: Counter[str] = Counter()
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if "executorch_call_delegate" in name:
            segments += 1
            sub = getattr(ep.graph_module, node.args[0].target)
            delegated += sum(1 for x in sub.original_module.graph.nodes
                             if x.op == "call_function" and "getitem" not in str(x.target))
        elif "getitem" not in name:
            portable[name] += 1
    return {"delegate_segments": segments, "delegated_ops": delegated, "portable_ops": dict(portable)}


def _int8_share(artifact: Artifact) -> float:
    """Share of matrix weights stored int8 in the converted graph the .pte was lowered from."""
    ref = artifact.reference
    if ref is None:
        return float(artifact.details.get("int8_weight_share", 0.0))
    q = f = 0
    for t in ref.state_dict().values():
        if t.dtype == torch.int8:
            q += t.numel()
        elif t.dtype.is_floating_point and t.dim() == 2:
            f += t.numel()
    return round(q / (q + f), 4) if q + f else 0.0
