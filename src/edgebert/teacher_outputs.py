"""A frozen teacher's logits per example, kept on disk and reused by every later run.

Distillation needs the teacher's logits on every training example, and evaluation its
scores on dev and test; for a full-size teacher on a CPU that is minutes of forward passes
each time. The logits depend only on the teacher's weights, the example and the sequence
length, so they are stored per example (keyed by the example's text) and each run computes
only the rows it has not seen. Head training fills the store for free: the head is fitted on
pooled features it has already computed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import torch

from .data.examples import Example
from .errors import EdgebertError
from .fsutil import atomic_write_bytes, cache_dir, sha256_text


def model_stamp(path: Path) -> str:
    """Identity of a model folder's weights (path, sizes, mtimes): equal stamps, equal outputs."""
    files = sorted(Path(path).glob("*.safetensors"))
    return f"{Path(path).resolve()}|" + "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def _key(e: Example) -> bytes:
    return hashlib.sha256(f"{e.text}\x1f{e.text_pair or ''}".encode("utf-8")).digest()[:16]


def _file(teacher_dir: Path, max_seq_len: int) -> Path:
    return cache_dir() / "teacher-outputs" / f"{sha256_text(model_stamp(teacher_dir), str(max_seq_len))[:32]}.safetensors"


def _read(path: Path) -> dict[bytes, torch.Tensor]:
    from safetensors.torch import load

    try:
        doc = load(path.read_bytes())
        return {bytes(k.tolist()): row for k, row in zip(doc["keys"], doc["logits"])}
    except Exception:  # missing or damaged: recomputed
        return {}


def store(teacher_dir: Path, max_seq_len: int, examples: list[Example], logits: torch.Tensor) -> None:
    """Add rows (best effort: an unwritable cache only costs a recomputation later)."""
    from safetensors.torch import save

    path = _file(teacher_dir, max_seq_len)
    rows = _read(path)
    rows.update({_key(e): row.detach().float().cpu() for e, row in zip(examples, logits)})
    keys = torch.tensor([list(k) for k in rows], dtype=torch.uint8)
    try:
        atomic_write_bytes(path, save({"keys": keys, "logits": torch.stack(list(rows.values())).contiguous()}))
    except (OSError, EdgebertError):
        pass


def logits_for(teacher_dir: Path, max_seq_len: int, examples: list[Example],
               compute: Callable[[list[Example]], torch.Tensor]) -> torch.Tensor:
    """[N, C] logits in ``examples`` order: stored rows, plus ``compute(missing)`` for the rest (then stored)."""
    rows = _read(_file(teacher_dir, max_seq_len))
    missing = [i for i, e in enumerate(examples) if _key(e) not in rows]
    fresh = compute([examples[i] for i in missing]) if missing else None
    if fresh is not None:
        store(teacher_dir, max_seq_len, [examples[i] for i in missing], fresh)
        rows.update({_key(examples[i]): fresh[j].float() for j, i in enumerate(missing)})
    return torch.stack([rows[_key(e)] for e in examples])
