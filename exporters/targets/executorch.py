"""ExecuTorch `.pte` with the XNNPACK delegate (Android and iOS CPU).

torch.export with a dynamic sequence length (2..seq_len; the sentence's own tokens) ->
(torchao PT2E static int8, per-channel weights) -> to_edge_transform_and_lower with
XnnpackPartitioner -> .pte. LayerNorm is written in ops XNNPACK takes (xnnpack_layernorm)
and attention uses 3-D bmm (no expand copies), so only the embedding gathers, the mask's
unsqueezes and the pooling sum stay on ExecuTorch's portable CPU kernels; `inspect` reports
that share because undelegated ops run far slower on phones. With int8 the word table is stored int8 per
row (or 4-bit per group, ``options["embedding_bits"]``) behind ExecuTorch's quantized gather
(et_embeddings says how), unless ``embeddings`` is among the float modules.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch

from edgebert.quiet import quiet

from .. import register_exporter
from ..base import INPUT_NAMES, OUTPUT_NAME, Artifact, Exporter, ExportError, ExportRequest, Precision, TensorSpec
from ..et_embeddings import OPS, WORD, other_readers, scheme, with_quantized_word_table
from ..pt2e import calibrate_and_convert, export_program, xnnpack_quantizer
from ..sequence import SeqKind, SequenceShape
from ..xnnpack_layernorm import with_xnnpack_layernorms


@register_exporter
class ExecuTorchExporter(Exporter):
    target = "executorch"
    suffix = ".pte"
    precisions = (Precision.FP32, Precision.INT8)
    export_modules = ("executorch.exir", "executorch.backends.xnnpack.partition.xnnpack_partitioner",
                      "torchao.quantization.pt2e")
    runtime_modules = ("executorch.runtime", "executorch.kernels.quantized")
    format = "pte"
    libraries = ("executorch", "torchao")
    runtime_pip = "executorch"
    android_runner = "native"
    colour = "#1f77b4"
    # the word table is int8 by default here; --keep-float embeddings (or the fallback) keeps it float
    default_float_modules = ("classifier",)

    def export(self, req: ExportRequest) -> Artifact:
        if req.quantize not in self.quantize_modes:
            raise ExportError(f"ExecuTorch does not support --quantize {req.quantize}",
                              f"use one of {', '.join(self.quantize_modes)}")
        args = req.example_args()
        # LayerNorm in ops XNNPACK delegates (ExecuTorch 1.4 has no LayerNorm in XNNPACK)
        model = with_xnnpack_layernorms(req.model)
        try:
            art = self._export(req, model, args, SequenceShape.dynamic(req.seq_len))
        except ExportError as exc:  # a graph that specializes its length exports at the fixed length
            art = self._export(req, model, args, SequenceShape.static(req.seq_len))
            art.notes.append(f"exported at a fixed length: a dynamic one failed ({exc.message[:200]})")
        return art

    def _export(self, req: ExportRequest, model: torch.nn.Module, args: tuple, sequence: SequenceShape) -> Artifact:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        dynamic = None if sequence.kind is SeqKind.STATIC else \
            ({1: torch.export.Dim("seq", min=sequence.min_len, max=sequence.max_len)},) * len(INPUT_NAMES)
        reference = None
        quant: dict[str, Any] = {"scheme": "none"}
        if req.quantize == "int8":
            graph, embedding = self._int8_graph(req, model, args, dynamic)
            reference = graph
            program = export_program(graph, args, dynamic)
            quant = {"scheme": "static int8 (torchao PT2E, XNNPACKQuantizer, per-channel symmetric weights, "
                               "per-tensor activations)", "float_modules": list(req.float_modules),
                     "embedding": embedding}
        else:
            program = export_program(model, args, dynamic)
        weights = weight_bytes(program)
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
        seq: int | str = req.seq_len if sequence.kind is SeqKind.STATIC else "seq"
        return Artifact(
            target=self.target, path=path, precision=self.precision_for(req.quantize),
            inputs=[TensorSpec(n, "int64", [1, seq]) for n in INPUT_NAMES],
            outputs=[TensorSpec(OUTPUT_NAME, "float32", [1, req.model.config.num_labels])],
            reference=reference, quantization=quant, details={**census, "weight_bytes": weights}, sequence=sequence,
        )

    @staticmethod
    def _int8_graph(req: ExportRequest, source: torch.nn.Module, args: tuple,
                    dynamic: Any = None) -> tuple[torch.fx.GraphModule, str]:
        """The calibrated PT2E graph, its word table quantized where it can be; and that scheme."""
        bits = req.options.get("embedding_bits", 8)
        if bits not in OPS:
            raise ExportError(f"embedding_bits {bits!r} is not supported", "use 8 (int8 per row) or 4 (4-bit per group)")

        def convert(model):
            return calibrate_and_convert(model, args, xnnpack_quantizer(req.float_modules, model=model), req.calibration,
                                         dynamic_shapes=dynamic)

        model = ("embeddings is a float module" if "embeddings" in req.float_modules
                 else with_quantized_word_table(source, bits))
        if isinstance(model, str):
            return convert(source), f"float word embeddings ({model})"
        graph = convert(model)
        readers = other_readers(graph)
        if readers:  # those readers would compute with the raw codes
            return convert(source), f"float word embeddings (also read by {', '.join(sorted(set(readers)))})"
        return graph, scheme(bits, req.model.embeddings.word_embeddings.embedding_dim)

    def runner(self, artifact: Artifact):
        import executorch.kernels.quantized  # noqa: F401  registers the quantized gather kernels
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
    emb = artifact.quantization.get("embedding", "")
    table = ("int8 per row" if emb.startswith("per-row int8") else "4-bit per group" if emb.startswith("4-bit")
             else None)
    linears = artifact.reference is None or _int8_linears(artifact)
    parts = (["linears and matmuls int8 inside XNNPACK"] if linears else []) + \
        ([f"word embeddings {table} (ExecuTorch quantized gather)"] if table else [])
    kept = [m for m in artifact.quantization.get("float_modules", []) if m not in ("embeddings", "classifier")]
    return (f"; {int8_share:.0%} of matrix weights {'int8' if table != '4-bit per group' else 'int8 or 4-bit'} "
            f"({', '.join(parts)}), LayerNorm/Softmax/{'position embeddings' if table else 'embeddings'} float"
            + (f"; kept float: {', '.join(kept)}" if kept else ""))


def weight_bytes(program) -> dict[str, int]:
    """Bytes of the parameters and constants the program is lowered from, by dtype (for size accounting)."""
    out: Counter[str] = Counter()
    tensors = {**program.state_dict, **program.constants}
    for t in tensors.values():
        if isinstance(t, torch.Tensor):
            out[str(t.dtype).replace("torch.", "")] += t.numel() * t.element_size()
    return dict(out)


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


def _weights(artifact: Artifact) -> dict[str, torch.Tensor]:
    return artifact.reference.state_dict() if artifact.reference is not None else {}


def _int8_linears(artifact: Artifact) -> bool:
    return any(t.dtype == torch.int8 and n != f"{WORD}.weight" for n, t in _weights(artifact).items())


def _int8_share(artifact: Artifact) -> float:
    """Share of matrix weights stored int8 (or 4-bit) in the converted graph the .pte was lowered
    from: linears and the word table. A 4-bit table packs two weights per uint8; its per-group
    scales are not weights."""
    if artifact.reference is None:
        return float(artifact.details.get("int8_weight_share", 0.0))
    q = f = 0
    for name, t in _weights(artifact).items():
        if t.dtype == torch.int8:
            q += t.numel()
        elif t.dtype == torch.uint8 and name == f"{WORD}.weight":
            q += 2 * t.numel()
        elif t.dtype.is_floating_point and t.dim() == 2 and name != f"{WORD}.scales":
            f += t.numel()
    return round(q / (q + f), 4) if q + f else 0.0
