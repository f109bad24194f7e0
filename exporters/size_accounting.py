"""Where an artifact's bytes go: int8 weights, float weights, and everything else (overhead).

The goal a mobile developer can check: a file no bigger than 1.15x the weights it must hold
(graph, metadata, padding and duplicated constants are the rest). Each target's ``inspect``
reports stored weight bytes by dtype (``weight_bytes`` or ONNX's ``weight_bytes_by_dtype``);
this adds them up against the artifact's size on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OVERHEAD_GOAL = 1.15  # artifact bytes / weight bytes
TWIN_GOAL = 0.30  # an int8 artifact / its fp32 twin (same model, same target)
INT8_DTYPES = ("int8", "uint8", "int4", "uint4")
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def artifact_bytes(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def account(total: int, weight_bytes: dict[str, int]) -> dict[str, Any]:
    int8 = sum(v for k, v in weight_bytes.items() if k in INT8_DTYPES)
    flt = sum(v for k, v in weight_bytes.items() if k in FLOAT_DTYPES)
    other = sum(weight_bytes.values()) - int8 - flt  # int32/int64 constants: shapes, indices, biases of int8 ops
    weights = int8 + flt + other
    ratio = total / weights if weights else None
    return {"artifact_bytes": int(total), "int8_weight_bytes": int(int8), "float_weight_bytes": int(flt),
            "other_weight_bytes": int(other), "overhead_bytes": int(total - weights),
            "artifact_over_weights": round(ratio, 4) if ratio else None,
            "overhead_goal_met": bool(ratio is not None and ratio <= OVERHEAD_GOAL)}


def size_accounting(path: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """None when the target's inspect does not count its weights."""
    weights = report.get("weight_bytes_by_dtype") or report.get("weight_bytes")
    if not weights:
        return None
    return account(artifact_bytes(path), {str(k): int(v) for k, v in weights.items()})


def words(acc: dict[str, Any] | None) -> str:
    if not acc:
        return ""
    mb = 1e6
    return (f"{acc['artifact_bytes'] / mb:.2f} MB = {acc['int8_weight_bytes'] / mb:.2f} MB int8 weights + "
            f"{acc['float_weight_bytes'] / mb:.2f} MB float weights + {(acc['other_weight_bytes']) / mb:.2f} MB other "
            f"constants + {acc['overhead_bytes'] / mb:.2f} MB overhead ({acc['artifact_over_weights']:.2f}x the weights)")
