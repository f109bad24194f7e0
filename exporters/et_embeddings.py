"""Word embeddings stored int8 per row (or 4-bit per group) in ExecuTorch programs.

In a small student the fp32 word table (vocab x hidden) is most of the .pte. As ExecuTorch's
llama example and optimum-executorch's ``--qembedding 8w/4w`` do, the table's gather becomes
``quantized_decomposed.embedding_byte`` (int8 [V, H] + a float scale per row) or
``embedding_4bit`` (two 4-bit values per byte, [V, H/2] uint8, + a scale per group of
``GROUP`` columns): the kernel dequantizes only the rows it reads. Both ops run on
ExecuTorch's quantized kernels, which a runtime must register (``executorch.kernels.quantized``
in Python, libquantized_ops_aot_lib in the native runner). Position and token-type tables and
LayerNorm stay float. The swap happens on a copy of the model before PT2E, so the converted
graph (the artifact's torch reference) runs the very same quantized gather.
"""

from __future__ import annotations

import copy

import torch

from .onnx_embeddings import per_row_int8

WORD = "embeddings.word_embeddings"
GROUP = 32  # 4-bit: columns per scale (the whole row when hidden is not a multiple)
OPS = {8: "embedding_byte", 4: "embedding_4bit"}


def scheme(bits: int, hidden: int) -> str:
    if bits == 8:
        return "per-row int8 word embeddings (V x H int8 + V float scales, quantized_decomposed.embedding_byte)"
    g = GROUP if hidden % GROUP == 0 else hidden
    return (f"4-bit word embeddings, a float scale per {g} columns (V x H/2 packed uint8, "
            "quantized_decomposed.embedding_4bit)")


def quantize_table(table: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric (values, scales) in the layout the ExecuTorch kernels read.

    8: int8 [V, H] in -127..127, scales [V] (the same numbers as the ONNX target's table).
    4: values -8..7 stored +8 as nibbles, even column in the high one, [V, H/2] uint8;
    scales [V] for one group per row, else [V, groups]."""
    table = table.detach().float()
    if bits == 8:
        q, scale = per_row_int8(table.numpy())
        return torch.from_numpy(q), torch.from_numpy(scale)
    v, h = table.shape
    g = GROUP if h % GROUP == 0 else h
    groups = table.reshape(v, h // g, g)
    scale = groups.abs().amax(-1) / 7
    scale[scale == 0] = 1
    q = torch.clamp(torch.round(groups / scale[..., None]), -8, 7).to(torch.int16).reshape(v, h // 2, 2) + 8
    packed = (q[..., 0] * 16 + q[..., 1]).to(torch.uint8)
    return packed, scale[:, 0].contiguous() if scale.shape[1] == 1 else scale.contiguous()


class QuantizedWordEmbedding(torch.nn.Module):
    """An nn.Embedding replacement whose forward is the ExecuTorch quantized gather."""

    def __init__(self, table: torch.Tensor, bits: int):
        super().__init__()
        import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401  defines the ops in torch

        self.bits = bits
        q, scale = quantize_table(table, bits)
        self.register_buffer("weight", q)
        self.register_buffer("scales", scale)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        lo, hi = (-128, 127) if self.bits == 8 else (-8, 7)
        op = getattr(torch.ops.quantized_decomposed, OPS[self.bits]).default
        return op(self.weight, self.scales, None, lo, hi, input_ids)


def with_quantized_word_table(model: torch.nn.Module, bits: int) -> torch.nn.Module | str:
    """A copy of ``model`` whose word-table gather is quantized, or why the table stays float."""
    if bits not in OPS:
        raise ValueError(f"embedding bits must be one of {sorted(OPS)}, got {bits}")
    emb = getattr(getattr(model, "embeddings", None), "word_embeddings", None)
    if not isinstance(emb, torch.nn.Embedding):
        return f"{WORD} is not an nn.Embedding"
    if bits == 4 and emb.embedding_dim % 2:
        return f"4-bit packing needs an even embedding width, not {emb.embedding_dim}"
    new = copy.deepcopy(model)
    new.embeddings.word_embeddings = QuantizedWordEmbedding(emb.weight, bits)
    return new


def other_readers(graph: torch.fx.GraphModule) -> list[str]:
    """Ops other than the quantized gather that read the stored table (MobileBERT's trigram
    input slices the pad row): they would compute with raw int8 codes."""
    return [str(u.target) for node in graph.graph.nodes if node.op == "get_attr" and node.target == f"{WORD}.weight"
            for u in node.users if not any(op in str(u.target) for op in OPS.values())]
