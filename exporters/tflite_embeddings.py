"""Per-row int8 word embeddings in LiteRT artifacts, through LiteRT's own quantizer.

In a small student the fp32 word table (vocab x width) is most of the ``.tflite``. The PT2E
route cannot store it: annotated weight-only int8 (per row), litert-torch's converter folds
its quantize/dequantize pair back into a float32 constant. So the converted flatbuffer is
handed to ai-edge-quantizer with one dynamic-range rule for the word table's
EMBEDDING_LOOKUP alone (int8, one scale per row, symmetric: max|row| / 127). LiteRT runs
that as a hybrid lookup that dequantizes only the rows it reads, so no float copy of the
table exists at run time (its weight-only rule would add a DEQUANTIZE of the whole table).

``word_table_qspec`` gives the PT2E graph (the artifact's ``reference``) the same
per-row int8 table, so the reference and the artifact compute with the same numbers.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from edgebert.quiet import quiet

WORD_MODULE = "embeddings.word_embeddings"
SCHEME = "per-row int8 word embeddings (hybrid EMBEDDING_LOOKUP: V x E int8 + V float scales, ai-edge-quantizer)"
_LOOKUP_OPS = ("EMBEDDING_LOOKUP", "GATHER")


def keeps_float(float_modules) -> bool:
    """The word table stays float when it or a module above it is named float."""
    return any(WORD_MODULE == s or WORD_MODULE.startswith(s + ".") for s in float_modules)


def word_table_qspec():
    """PT2E weight spec matching ai-edge-quantizer's: int8 [-127, 127], symmetric, per row (axis 0)."""
    import torch
    from torchao.quantization.pt2e import PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    return QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_channel_symmetric,
                            ch_axis=0, is_dynamic=False,
                            observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args(eps=1e-12))


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as fb

    return {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def lookup_tables(model) -> list[tuple[int, int, str]]:
    """(op index, table tensor index, op name) of each row lookup reading a constant 2-D table."""
    from ai_edge_litert.tools import flatbuffer_utils

    names, sg = _op_names(), model.subgraphs[0]
    found = []
    for i, op in enumerate(sg.operators):
        code = flatbuffer_utils.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])
        if names.get(code) not in _LOOKUP_OPS or op.inputs is None or len(op.inputs) < 2:
            continue
        table = int(op.inputs[1] if names[code] == "EMBEDDING_LOOKUP" else op.inputs[0])
        t = sg.tensors[table]
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        if data is not None and len(data) and t.shape is not None and len(t.shape) == 2:
            found.append((i, table, names[code]))
    return found


def quantize_word_table(path: Path, shape: tuple[int, int]) -> str | None:
    """Rewrite ``path`` with its [V, E] word table int8 per row. Returns why it stayed float, or None."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    sg = model.subgraphs[0]
    hits = [h for h in lookup_tables(model) if tuple(int(x) for x in sg.tensors[h[1]].shape) == tuple(shape)]
    if len(hits) != 1:
        return f"{len(hits)} row lookups read a {shape[0]} x {shape[1]} table, not one"
    op_i, table, op_name = hits[0]
    if op_name != "EMBEDDING_LOOKUP":
        return f"the word table is read by {op_name}, not by EMBEDDING_LOOKUP (the op given per-row int8 here)"
    readers = sum(table in list(o.inputs if o.inputs is not None else []) for o in sg.operators)
    if readers != 1:
        return f"the word table is read by {readers} ops, not only its lookup"
    if sg.tensors[table].type != fb.TensorType.FLOAT32:
        return "the word table is not float32"
    scopes = [_scope(o, sg) for o in sg.operators]
    if not scopes[op_i] or scopes.count(scopes[op_i]) != 1:
        return "the word lookup's output tensor name is not unique"
    try:
        _run_quantizer(path, "^" + re.escape(scopes[op_i]) + "$")
    except Exception as exc:  # the file is untouched: it keeps a float table, and says why
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"ai-edge-quantizer failed: {first}"
    written = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    if not per_row_int8(word_table(written, shape)):
        return "ai-edge-quantizer left the word table unquantized"
    return None


def per_row_int8(table: dict | None) -> bool:
    return table is not None and table["dtype"] == "int8" and table["scales"] == table["shape"][0]


def word_table(model, shape: tuple[int, int] | None = None) -> dict | None:
    """dtype, shape and number of scales of the word table: the [V, E] lookup table, else the largest."""
    from ai_edge_litert import schema_py_generated as fb

    sg = model.subgraphs[0]
    tables = [sg.tensors[t] for _, t, _ in lookup_tables(model)]
    if shape is not None:
        tables = [t for t in tables if tuple(int(x) for x in t.shape) == tuple(shape)]
    if not tables:
        return None
    t = max(tables, key=lambda t: int(np.prod(t.shape)))
    dtype = {v: k.lower() for k, v in vars(fb.TensorType).items() if not k.startswith("_")}.get(t.type, str(t.type))
    scales = t.quantization.scale if t.quantization is not None else None
    return {"dtype": dtype, "shape": [int(x) for x in t.shape], "scales": 0 if scales is None else len(scales)}


def _scope(op, sg) -> str:
    """ai-edge-quantizer selects ops by a regex on this: output tensor names joined by ";", plus ";"."""
    from .tflite_metadata import tensor_name

    names = [tensor_name(sg.tensors[o]) for o in (op.outputs if op.outputs is not None else [])
             if o >= 0]
    return ";".join(n for n in names if n) + ";" if any(names) else ""


def _run_quantizer(path: Path, scope: str) -> None:
    from ai_edge_quantizer import qtyping, quantizer

    q = quantizer.Quantizer(bytearray(path.read_bytes()))
    # dynamic (not weight-only): a hybrid lookup, no DEQUANTIZE of the whole table
    q.add_dynamic_config(scope, qtyping.TFLOperationName.EMBEDDING_LOOKUP, 8, qtyping.QuantGranularity.CHANNELWISE)
    with quiet("ai-edge-quantizer"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "already partially quantized": the static int8 linears stay as they are
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    path.write_bytes(bytes(result.quantized_model))

