"""Static int8 through torchao's PT2E flow, shared by every target that consumes a quantized graph.

torch.export -> prepare_pt2e(quantizer) -> calibrate on real data -> convert_pt2e. The
converted graph carries quantize/dequantize pairs with the calibrated scales, and runs in
torch, so its numerics can be checked even where the target runtime cannot (CoreML).
"""

from __future__ import annotations

from typing import Any

import torch

from .base import INPUT_NAMES, ExportError


def export_program(model: torch.nn.Module, args: tuple, dynamic_shapes: Any = None) -> torch.export.ExportedProgram:
    """torch.export with the failing op named in one line instead of a long trace."""
    if not isinstance(model, torch.fx.GraphModule):  # converted PT2E graphs refuse .eval()
        model.eval()
    try:
        return torch.export.export(model, args, dynamic_shapes=dynamic_shapes, strict=True)
    except Exception as exc:  # torch raises many types here; all mean "this graph does not export"
        first = next((l for l in str(exc).splitlines() if l.strip()), type(exc).__name__)
        raise ExportError(f"torch.export failed: {first[:300]}",
                          "the model uses an op or control flow torch.export cannot capture") from None


def calibrate_and_convert(model: torch.nn.Module, args: tuple, quantizer, calibration: list[dict],
                          fold_quantize: bool = True, dynamic_shapes: Any = None) -> torch.fx.GraphModule:
    """``fold_quantize=False`` keeps float weights + q/dq pairs (what LiteRT's converter wants);
    ``dynamic_shapes`` keeps the sequence length symbolic through the converted graph, so it can
    be exported again at any length."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if not calibration:
        raise ExportError("the calibration set is empty", "pass --calibration DATA with at least one example")
    prepared = prepare_pt2e(export_program(model, args, dynamic_shapes).module(), quantizer)
    with torch.no_grad():
        for batch in calibration:
            got = tuple(batch[n] for n in INPUT_NAMES)
            if got[0].shape != args[0].shape:
                raise ExportError(f"calibration batch shape {tuple(got[0].shape)} does not match "
                                  f"the export shape {tuple(args[0].shape)}", "encode calibration data at --seq-len")
            prepared(*got)
    return move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=fold_quantize))


def quantizable_units(model: torch.nn.Module) -> list[str]:
    """The granularity at which layers can be kept float: encoder layers, pooler, classifier.

    Embeddings are not a unit: they always stay float (LayerNorm and Softmax are never
    quantized by the XNNPACK scheme either)."""
    names = [f"encoder.layer.{i}" for i in range(len(model.encoder.layer))]
    if getattr(model, "pooler", None) is not None:
        names.append("pooler")
    return names + ["classifier"]


def linear_modules(model: torch.nn.Module, units: list[str]) -> list[str]:
    """Names of the nn.Linear modules inside ``units``: the only ops edgebert quantizes.

    Quantizing only linears keeps the attention-score matmuls, the additive mask, Softmax,
    residual adds and LayerNorm in float. That matters: a quantizer that also annotates the
    ``scores + mask`` add puts the -10000 mask value into that tensor's int8 range, which
    rounds every real attention score to zero (static int8 then lost ~22 accuracy points on
    the default teacher). Linears carry the bulk of BERT's compute and weights.
    """
    return [name for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)
            and any(name == u or name.startswith(u + ".") for u in units)]


def xnnpack_quantizer(float_modules: list[str] | tuple[str, ...] = (), only: str | None = None, *,
                      model: torch.nn.Module | None = None):
    """Per-channel symmetric static int8 for the linears of every unit not kept float.

    XNNPACKQuantizer cannot exclude a module (``set_module_name(name, None)`` is
    unsupported), so the global config stays unset and each quantized Linear is named:
    those of every unit of ``model`` not in ``float_modules``, or of ``only``.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    if model is None:
        raise ValueError("xnnpack_quantizer needs the model to list its linear layers")
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    units = quantizable_units(model)
    if only is not None:
        units = [only]
    else:
        unknown = sorted(set(float_modules) - set(units) - {"embeddings"})
        if unknown:
            raise ExportError(f"cannot keep {', '.join(unknown)} in float",
                              f"name whole units: {', '.join(units)}")
        units = [u for u in units if u not in float_modules]
    q = XNNPACKQuantizer()
    for name in linear_modules(model, units):
        q.set_module_name(name, config)
    return q
