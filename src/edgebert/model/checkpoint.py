"""edgebert's own checkpoint folder: weights, per-layer config, labels, tokenizer.

Layout::

    model.safetensors   weights (never pickled)
    edgebert.json       config with per-layer shapes, label names and provenance
    labels.txt          one label per line, in output order
    tokenizer files     copied from the source checkpoint so the folder stands alone
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from .. import __version__
from ..errors import CheckpointError
from ..fsutil import atomic_dir, sha256_file
from .config import EdgeBertConfig
from .hf import TOKENIZER_FILES, check_model_dir, is_hf_dir, load_hf_model, load_safetensors, read_json
from .modeling import EdgeBertForSequenceClassification

CONFIG_NAME = "edgebert.json"
FORMAT_VERSION = 1


def is_edgebert_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_NAME).is_file()


def save_checkpoint(model: EdgeBertForSequenceClassification, out: str | Path, *, tokenizer_from: str | Path | None = None) -> Path:
    """Write the model atomically; ``tokenizer_from`` is a folder whose tokenizer files are copied."""
    out = Path(out)
    src = Path(tokenizer_from) if tokenizer_from else None
    if src is not None and src.resolve() == out.resolve():
        raise CheckpointError(f"cannot save {out} over its own tokenizer source", "save to a new folder")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_dir(out) as tmp:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt", "producer": "edgebert"})
        doc = {"format": "edgebert", "format_version": FORMAT_VERSION, "edgebert_version": __version__,
               **model.config.to_dict()}
        (tmp / CONFIG_NAME).write_text(json.dumps(doc, indent=2) + "\n")
        (tmp / "labels.txt").write_text("\n".join(model.config.label_names) + "\n")
        if src is not None:
            copied = 0
            for name in TOKENIZER_FILES:
                if (src / name).is_file():
                    shutil.copy2(src / name, tmp / name)
                    copied += 1
            if not copied:
                raise CheckpointError(f"no tokenizer files in {src}", "pass the folder that holds vocab.txt or tokenizer.json")
    return out


def load_checkpoint(path: str | Path) -> EdgeBertForSequenceClassification:
    path = check_model_dir(path)
    doc = read_json(path / CONFIG_NAME, CONFIG_NAME)
    if doc.get("format") != "edgebert":
        raise CheckpointError(f"{path / CONFIG_NAME} is not an edgebert config", "pass a folder written by edgebert")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer edgebert (format {doc['format_version']})", "upgrade edgebert")
    for key in ("format", "format_version", "edgebert_version"):
        doc.pop(key, None)
    cfg = EdgeBertConfig.from_dict(doc)
    model = EdgeBertForSequenceClassification(cfg)
    state = load_safetensors(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"weights in {path} do not match {CONFIG_NAME} ({first})",
                              "the folder was edited by hand; re-save it with edgebert") from None
    return model.eval()


def load_model(path: str | Path, *, require_head: bool = False, **hf_kwargs) -> EdgeBertForSequenceClassification:
    """Load an edgebert folder, or convert a Hugging Face folder of a supported family on the fly.

    ``require_head`` refuses models whose classifier was never trained (plain encoders).
    """
    path = check_model_dir(path)
    if is_edgebert_dir(path):
        model = load_checkpoint(path)
        if require_head and not model.config.provenance.get("trained_head", True):
            raise CheckpointError(f"{path} has an untrained classification head",
                                  "train one first: edgebert teacher --base DIR --data FILE --out DIR")
        return model
    if (path / "config.json").exists() and not is_hf_dir(path):
        load_hf_model(path)  # raises the precise unsupported-family / bad-JSON error
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} is not a model checkpoint (no {CONFIG_NAME} or config.json)",
                              "pass a folder written by edgebert or by save_pretrained()")
    return load_hf_model(path, require_head=require_head, **hf_kwargs)


def model_size_bytes(path: str | Path) -> int:
    """Bytes of weights on disk (all safetensors files in the folder)."""
    return sum(p.stat().st_size for p in Path(path).glob("*.safetensors"))


def weights_sha256(path: str | Path) -> str | None:
    """Identity of a checkpoint's weights (bundles record it; reuse checks compare it); None without weights."""
    files = sorted(Path(path).glob("*.safetensors"))
    return ",".join(sha256_file(f) for f in files) if files else None


def tensor_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.state_dict().values())
