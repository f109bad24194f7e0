"""The bundle: everything a phone app needs next to the model, written atomically.

    model.<ext>              the artifact
    vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json
    edgebert_tokenizer.json  WordPiece settings an on-device tokenizer must reproduce
    labels.txt               one label per line, in output order
    reference.json           a few held-out examples and the PyTorch model's logits for them
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

import numpy as np

from edgebert import __version__
from edgebert.errors import EdgebertError
from edgebert.fsutil import atomic_dir, sha256_artifact
from edgebert.data.tokenizer_files import tokenizer_settings, write_vocab_txt
from edgebert.model.hf import TOKENIZER_FILES

from .base import INPUT_NAMES, Artifact, TensorSpec

METADATA_VERSION = 1
CORE_LIBRARIES = ("torch", "transformers", "tokenizers")  # + every target's own (Exporter.libraries)


def library_versions() -> dict[str, str]:
    out = {"edgebert": __version__, "python": platform.python_version()}
    from . import exporters

    for name in dict.fromkeys([*CORE_LIBRARIES, *(lib for e in exporters() for lib in e.libraries)]):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


REFERENCE_FILE = "reference.json"
REFERENCE_EXAMPLES = 8


def reference_doc(enc, logits: np.ndarray, examples: list, label_names: list[str], split: str,
                  k: int = REFERENCE_EXAMPLES) -> dict[str, Any]:
    """``k`` held-out examples (padded token ids, as the gates fed them) and the PyTorch logits
    for them, so a device's output can be checked against PyTorch, not against itself.

    Example 0, which the bench feeds, is the least confident of the clear ones (margin at least
    half the largest): a saturated example barely moves when an artifact is broken (mask
    dropped, inputs swapped), and a borderline one may rightly flip class in int8. The rest
    are taken round-robin over the classes PyTorch predicts, so the logits span their range."""
    logits = np.asarray(logits, dtype=np.float64)
    top = np.sort(logits, axis=1)
    margin = top[:, -1] - top[:, -2] if logits.shape[1] > 1 else np.abs(logits[:, 0])
    clear = np.flatnonzero(margin >= margin.max() / 2)
    first = int(clear[np.argmin(margin[clear])])
    pred = logits.argmax(1)
    classes = sorted(set(pred.tolist()), key=lambda c: c == pred[first])  # another class next
    queues = [[i for i in range(len(pred)) if pred[i] == c and i != first] for c in classes]
    picked = [first]
    while len(picked) < min(k, len(pred)):
        for q in queues:
            if q and len(picked) < k:
                picked.append(q.pop(0))
    paired = any(e.text_pair is not None for e in examples)  # encode() then gave every example a pair
    rows = [{"index": i, "text": examples[i].text, **({"text_pair": examples[i].text_pair or ""} if paired else {}),
             "label": examples[i].label, **{n: getattr(enc, n)[i].tolist() for n in INPUT_NAMES},
             "logits": [float(x) for x in logits[i]]} for i in picked]
    return {"what": f"{len(rows)} held-out {split} examples and the edgebert PyTorch model's logits for them, "
                    "computed at export time (independent of the artifact)",
            "split": split, "labels": list(label_names), "examples": rows}


def write_bundle(out: Path, artifact: Artifact, model_dir: Path, label_names: list[str],
                 metadata: dict[str, Any], finalize: Callable[[Path, Path, list[str]], list[str]] | None = None,
                 reference: dict[str, Any] | None = None) -> Path:
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
        if reference is not None:
            (tmp / REFERENCE_FILE).write_text(json.dumps(reference, separators=(",", ":")) + "\n")
        notes = list(artifact.notes) + (finalize(tmp, dest, label_names) if finalize else [])
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) if dest.is_dir() else dest.stat().st_size
        doc = {
            "format": "edgebert-bundle", "format_version": METADATA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": artifact.target, "precision": artifact.precision,
            "artifact": {"file": dest.name, "bytes": size, "sha256": sha256_artifact(dest)},
            "inputs": [vars(t) for t in artifact.inputs], "outputs": [vars(t) for t in artifact.outputs],
            "output_quantization": (None if artifact.output_quantization is None else
                                    {"scale": artifact.output_quantization[0],
                                     "zero_point": artifact.output_quantization[1]}),
            "labels": label_names, "quantization": artifact.quantization, "notes": notes,
            **({"reference": REFERENCE_FILE} if reference is not None else {}),
            **metadata, "versions": library_versions(),
        }
        (tmp / "metadata.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


REQUIRED = ("target", "precision", "artifact", "inputs", "outputs", "labels", "seq_len")
REEXPORT = "re-export it with `edgebert export`"


def read_bundle(path: Path) -> dict[str, Any]:
    """metadata.json, checked to be an edgebert bundle's; a damaged one is one line, never a traceback."""
    path = Path(path)
    if not path.is_dir():
        raise EdgebertError(f"bundle {path} does not exist" if not path.exists() else f"bundle {path} is a file",
                            "pass a bundle folder written by `edgebert export`")
    meta = path / "metadata.json"
    if not meta.exists():
        raise EdgebertError(f"{path} is not an edgebert bundle (no metadata.json)", "pass a folder written by edgebert export")
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise EdgebertError(f"{meta} is not valid JSON ({exc})", REEXPORT) from None
    if not isinstance(doc, dict) or doc.get("format") != "edgebert-bundle":
        raise EdgebertError(f"{meta} is not an edgebert bundle's metadata", "pass a folder written by edgebert export")
    missing = [k for k in REQUIRED if k not in doc]
    if missing or not isinstance(doc.get("artifact"), dict) or "file" not in doc["artifact"]:
        raise EdgebertError(f"{meta} lacks {', '.join(missing) or 'artifact.file'}", REEXPORT)
    if int(doc.get("format_version", 0)) > METADATA_VERSION:
        raise EdgebertError(f"{path} was written by a newer edgebert (bundle format {doc['format_version']})",
                            "upgrade edgebert")
    return doc


def gate_status(meta: dict[str, Any]) -> str:
    """passed | failed | unverified (numerics not checked where the bundle was made)."""
    gates = meta.get("gates") or {}
    if gates.get("status") in ("passed", "failed", "unverified"):
        return gates["status"]
    return "passed" if gates.get("passed") and meta.get("status", "passed") == "passed" else "failed"


def verify_bundle(path: Path, *, allow_failed_gates: bool = False) -> dict[str, Any]:
    """Check a bundle before it is used: the artifact is the one its gates measured (hash),
    the labels match the model's outputs, and the gates passed (unless the user says otherwise)."""
    path = Path(path)
    meta = read_bundle(path)
    art = path / meta["artifact"]["file"]
    if not art.exists():
        raise EdgebertError(f"bundle {path} has no {meta['artifact']['file']}", REEXPORT)
    want = meta["artifact"].get("sha256")
    if want is None or sha256_artifact(art) != want:
        raise EdgebertError(f"{art} is not the artifact this bundle's gates measured (its sha256 differs from "
                            "metadata.json)", f"{REEXPORT}; never swap the model file inside a bundle")
    classes = (meta["outputs"][0].get("shape") or [None])[-1] if meta["outputs"] else None
    labels_file = path / "labels.txt"
    try:
        labels = [line for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        raise EdgebertError(f"{labels_file} is missing or unreadable", REEXPORT) from None
    if labels != list(meta["labels"]) or (isinstance(classes, int) and classes != len(labels)):
        raise EdgebertError(f"{labels_file} lists {len(labels)} labels but the model has "
                            f"{classes if isinstance(classes, int) else len(meta['labels'])} outputs "
                            f"({', '.join(map(str, meta['labels']))})", f"restore labels.txt or {REEXPORT}")
    if gate_status(meta) == "failed" and not allow_failed_gates:
        why = "; ".join(meta.get("rejected_because") or []) or "see gates in its metadata.json"
        raise EdgebertError(f"bundle {path.name} failed its gates ({why})",
                            "fix and re-export it, or pass --allow-failed-gates to use it anyway")
    return meta


def read_reference(path: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The bundle's recorded PyTorch reference (None for bundles made before it existed),
    checked to fit the model's inputs and outputs; a damaged one is one line."""
    name = meta.get("reference")
    if not name:
        return None
    file = Path(path) / str(name)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        rows = doc["examples"]
        seq, classes = int(meta["seq_len"]), len(meta["labels"])
        ok = bool(rows) and all(len(r[n]) == seq for r in rows for n in INPUT_NAMES) and \
            all(len(r["logits"]) == classes for r in rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgebertError(f"{file} is missing or damaged ({type(exc).__name__}: {exc})", REEXPORT) from None
    if not ok:
        raise EdgebertError(f"{file} does not fit the model ({seq} tokens, {classes} outputs)", REEXPORT)
    return doc


def bundle_artifact(path: Path, meta: dict[str, Any] | None = None) -> Artifact:
    """The Artifact a bundle holds, as its exporter's ``runner`` takes it (the inverse of write_bundle)."""
    path = Path(path)
    meta = meta or read_bundle(path)
    oq = meta.get("output_quantization")
    return Artifact(meta["target"], path / meta["artifact"]["file"], meta["precision"],
                    [TensorSpec(**t) for t in meta["inputs"]], [TensorSpec(**t) for t in meta["outputs"]],
                    output_quantization=(oq["scale"], oq["zero_point"]) if oq else None)
