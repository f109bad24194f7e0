"""The bundle: everything a phone app needs next to the model, written atomically.

    model.<ext>              the artifact
    vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
    edgebert_tokenizer.json  WordPiece settings an on-device tokenizer must reproduce
    labels.txt               one label per line, in output order
    metadata.json            inputs/outputs, seq len, quantization, calibration, gates, versions
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from edgebert import __version__
from edgebert.fsutil import atomic_dir, sha256_file
from edgebert.data.tokenizer_files import tokenizer_settings, write_vocab_txt
from edgebert.model.hf import TOKENIZER_FILES

from .base import Artifact, TensorSpec

METADATA_VERSION = 1
LIBRARIES = ("torch", "executorch", "torchao", "litert-torch", "ai-edge-litert", "coremltools", "onnx",
             "onnxruntime", "onnxscript", "transformers", "tokenizers")


def library_versions() -> dict[str, str]:
    out = {"edgebert": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def write_bundle(out: Path, artifact: Artifact, model_dir: Path, label_names: list[str],
                 metadata: dict[str, Any], finalize: Callable[[Path, Path, list[str]], list[str]] | None = None) -> Path:
    """``finalize(bundle_dir, artifact_file, labels)`` runs before hashing (e.g. TFLite metadata)."""
    with atomic_dir(out) as tmp:
        dest = tmp / artifact.path.name
        if artifact.path.is_dir():
            shutil.copytree(artifact.path, dest)
        else:
            shutil.copy2(artifact.path, dest)
        for name in TOKENIZER_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, tmp / name)
        write_vocab_txt(model_dir, tmp / "vocab.txt")  # from tokenizer.json: what the tokenizer really runs
        seq_len = metadata["seq_len"]
        (tmp / "edgebert_tokenizer.json").write_text(json.dumps(tokenizer_settings(model_dir, seq_len), indent=2) + "\n")
        (tmp / "labels.txt").write_text("\n".join(label_names) + "\n")
        notes = list(artifact.notes) + (finalize(tmp, dest, label_names) if finalize else [])
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) if dest.is_dir() else dest.stat().st_size
        doc = {
            "format": "edgebert-bundle", "format_version": METADATA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": artifact.target, "precision": artifact.precision,
            "artifact": {"file": dest.name, "bytes": size,
                         "sha256": None if dest.is_dir() else sha256_file(dest)},
            "inputs": [vars(t) for t in artifact.inputs], "outputs": [vars(t) for t in artifact.outputs],
            "output_quantization": (None if artifact.output_quantization is None else
                                    {"scale": artifact.output_quantization[0],
                                     "zero_point": artifact.output_quantization[1]}),
            "labels": label_names, "quantization": artifact.quantization, "notes": notes,
            **metadata, "versions": library_versions(),
        }
        (tmp / "metadata.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


def read_bundle(path: Path) -> dict[str, Any]:
    from edgebert.errors import EdgebertError

    meta = Path(path) / "metadata.json"
    if not meta.exists():
        raise EdgebertError(f"{path} is not an edgebert bundle (no metadata.json)", "pass a folder written by edgebert export")
    return json.loads(meta.read_text())


def bundle_artifact(path: Path, meta: dict[str, Any] | None = None) -> Artifact:
    """The Artifact a bundle holds, as its exporter's ``runner`` takes it (the inverse of write_bundle)."""
    path = Path(path)
    meta = meta or read_bundle(path)
    oq = meta.get("output_quantization")
    return Artifact(meta["target"], path / meta["artifact"]["file"], meta["precision"],
                    [TensorSpec(**t) for t in meta["inputs"]], [TensorSpec(**t) for t in meta["outputs"]],
                    output_quantization=(oq["scale"], oq["zero_point"]) if oq else None)
