"""Where this machine keeps the checkpoints and data files its bundles came from.

A bundle records its source checkpoint and data by name and content hash only: absolute
paths of the machine that made it would leak into a phone app (the demo serves
metadata.json) and mean nothing elsewhere. So that `edgebert bench` can still find the
teacher of a bundle exported here, the hash -> path map lives in the local cache instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import EdgebertError
from .fsutil import atomic_write_json, cache_dir

KINDS = ("checkpoint", "data")


def _index() -> Path:
    return cache_dir() / "sources.json"


def _read() -> dict[str, dict[str, str]]:
    try:
        doc = json.loads(_index().read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(kind: str, sha256: str | None, path: str | os.PathLike) -> None:
    """Note that ``path`` holds content ``sha256`` (best effort: an unwritable cache only loses the hint)."""
    if not sha256 or not Path(path).exists():
        return
    doc = _read()
    entry = doc.setdefault(kind, {})
    where = str(Path(path).resolve())
    if entry.get(sha256) != where:
        entry[sha256] = where
        try:
            atomic_write_json(_index(), doc)
        except (OSError, EdgebertError):  # an unusable cache only loses the hint
            pass


def recall(kind: str, sha256: str | None) -> Path | None:
    """The local path last seen holding ``sha256``, if it still exists (callers re-check the hash)."""
    where = _read().get(kind, {}).get(sha256 or "")
    return Path(where) if where and Path(where).exists() else None
