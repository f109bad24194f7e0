"""Results that are costly to compute and never change for the same inputs, kept on disk.

A frozen teacher's logits on a training set, or its scores on dev and test, depend only on
its weights, the examples and the sequence length; a recipe sweep or a re-run with another
compression recipe would otherwise recompute them every time (minutes for a full-size
teacher on a CPU). Each entry is keyed by a hash of what it depends on; each namespace keeps
its most recent entries only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import EdgebertError
from .fsutil import atomic_write_bytes, atomic_write_json, cache_dir, sha256_text

KEEP = 16  # entries per namespace


def _folder(namespace: str) -> Path:
    return cache_dir() / "results" / namespace


def _prune(folder: Path) -> None:
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in entries[:-KEEP]:
        old.unlink(missing_ok=True)


def cached_tensor(namespace: str, key: list[str], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    from safetensors.torch import load, save

    path = _folder(namespace) / f"{sha256_text(*key)[:32]}.safetensors"
    if path.is_file():
        try:
            value = load(path.read_bytes())["value"]
            os.utime(path)
            return value
        except Exception:  # a damaged entry is recomputed
            pass
    value = compute()
    try:
        atomic_write_bytes(path, save({"value": value.contiguous()}))
        _prune(path.parent)
    except (OSError, EdgebertError):  # a full, read-only or missing cache only costs the recomputation
        pass
    return value


def cached_json(namespace: str, key: list[str], compute: Callable[[], Any]) -> Any:
    path = _folder(namespace) / f"{sha256_text(*key)[:32]}.json"
    if path.is_file():
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
            os.utime(path)
            return value
        except (OSError, ValueError):
            pass
    value = compute()
    try:
        atomic_write_json(path, value)
        _prune(path.parent)
    except (OSError, EdgebertError):
        pass
    return value
