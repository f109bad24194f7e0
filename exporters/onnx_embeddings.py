"""Per-row int8 word embeddings in ONNX artifacts, edited into the graph by hand.

In a small student the fp32 word table (vocab x hidden) is most of the file, and
onnxruntime's quantizers cannot store it well. quantize_dynamic's GatherQuant sends the table
through quantize_activation (op_level_per_channel=False): one scale and zero point for the
whole table, in the activation type (uint8 by default), whatever per_channel says.
quantize_static's QDQGather quantizes it as an activation tensor, per tensor, behind a
DequantizeLinear that feeds the Gather the whole dequantized table (V x H values per
inference). So, as ExecuTorch's ``quantized_decomposed.embedding_byte`` and Optimum's 8-bit
embeddings do, the table is stored int8 [V, H] with a float scale per row [V] (symmetric,
max|row| / 127; all-zero rows get scale 1), and its Gather becomes
Gather(int8 table, ids) -> Cast -> Mul by Gather(scales, ids) unsqueezed: one row per token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORD_TABLE = "embeddings.word_embeddings.weight"  # the dynamo exporter names initializers after parameters
SCHEME = "per-row int8 word embeddings (V x H int8 + V float scales)"


def per_row_int8(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8: (int8 values, float32 scales); float32 arithmetic throughout."""
    table = np.asarray(table, dtype=np.float32)
    scale = np.abs(table).max(axis=1) / np.float32(127)
    scale[scale == 0] = 1
    q = np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def quantize_word_table(path: Path, name: str = WORD_TABLE) -> str | None:
    """Rewrite ``path`` with its word table int8 per row. Returns why it stayed float, or None.

    Only a table read solely by row Gathers (axis 0) is rewritten: any other reader (a slice of
    the pad row, a tied output layer) would need the whole table dequantized, which is the cost
    this avoids."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    init = next((i for i in graph.initializer if i.name == name), None)
    if init is None or len(init.dims) != 2 or init.data_type != TensorProto.FLOAT:
        return f"no float [V, H] initializer named {name}"
    readers = [n for n in graph.node if name in n.input]
    gathers = [n for n in readers if n.op_type == "Gather" and list(n.input).index(name) == 0
               and all(a.name != "axis" or a.i == 0 for a in n.attribute)]
    if not gathers or len(gathers) != len(readers):
        return f"{name} is read by {', '.join(sorted({n.op_type for n in readers})) or 'nothing'}, not only row Gathers"
    q, scale = per_row_int8(numpy_helper.to_array(init))
    q_name, s_name, axis_name = f"{name}_int8", f"{name}_row_scale", f"{name}_last_axis"
    graph.initializer.remove(init)
    graph.initializer.extend([numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name),
                              numpy_helper.from_array(np.array([-1], dtype=np.int64), axis_name)])
    for gather in gathers:
        at = list(graph.node).index(gather)
        ids, out = gather.input[1], gather.output[0]
        base = gather.name or out
        new = [
            helper.make_node("Gather", [q_name, ids], [f"{out}_int8"], name=f"{base}_int8_rows", axis=0),
            helper.make_node("Cast", [f"{out}_int8"], [f"{out}_rows"], name=f"{base}_cast", to=TensorProto.FLOAT),
            helper.make_node("Gather", [s_name, ids], [f"{out}_scale"], name=f"{base}_row_scales", axis=0),
            helper.make_node("Unsqueeze", [f"{out}_scale", axis_name], [f"{out}_scale_col"], name=f"{base}_unsqueeze"),
            helper.make_node("Mul", [f"{out}_rows", f"{out}_scale_col"], [out], name=f"{base}_scaled"),
        ]
        scope = [p for p in gather.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
        for node in new:
            node.metadata_props.extend(scope)  # the module scope nodes_in_modules reads, nothing bulkier
        graph.node.remove(gather)
        for offset, node in enumerate(new):
            graph.node.insert(at + offset, node)
    onnx.save(model, str(path))
    return None
