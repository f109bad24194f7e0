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

from .base import INPUT_NAMES, Artifact
from .metadata import FORMAT, METADATA_VERSION, REEXPORT, BundleMetadata
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
            "split": split, "labels": list(label_names), "examples": rows,
            "length_sample": length_sample(enc)}


LENGTH_SAMPLE = 21


def length_sample(enc, k: int = LENGTH_SAMPLE) -> dict[str, Any]:
    """``k`` held-out examples at evenly spaced quantiles of the split's real token counts, so a
    bench timing them in turn sees the split's length distribution (min, deciles, max)."""
    lengths = enc.attention_mask.sum(1).numpy()
    order = np.argsort(lengths, kind="stable")
    picked = [int(order[round(q * (len(order) - 1))]) for q in np.linspace(0, 1, min(k, len(order)))]
    return {"what": f"{len(picked)} examples at evenly spaced quantiles of the real length of {len(lengths)} "
                    "held-out examples (padded; a dynamic-length artifact is fed each at its own length)",
            "examples": [{n: getattr(enc, n)[i].tolist() for n in INPUT_NAMES} for i in picked]}


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
            reference_record = {"file": REFERENCE_FILE, "sha256": sha256_artifact(tmp / REFERENCE_FILE)}
        notes = list(artifact.notes) + (finalize(tmp, dest, label_names) if finalize else [])
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) if dest.is_dir() else dest.stat().st_size
        doc = {
            "format": FORMAT, "format_version": METADATA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "target": artifact.target, "precision": artifact.precision,
            "artifact": {"file": dest.name, "bytes": size, "sha256": sha256_artifact(dest)},
            "inputs": [vars(t) for t in artifact.inputs], "outputs": [vars(t) for t in artifact.outputs],
            "output_quantization": (None if artifact.output_quantization is None else
                                    {"scale": artifact.output_quantization[0],
                                     "zero_point": artifact.output_quantization[1]}),
            "labels": label_names, "quantization": artifact.quantization, "notes": notes,
            **({"reference": reference_record} if reference is not None else {}),
            **metadata, "versions": library_versions(),
        }
        meta = BundleMetadata.from_dict(json.loads(json.dumps(doc, default=str)))  # the one schema, checked
        (tmp / "metadata.json").write_text(json.dumps(meta.to_dict(), indent=2, default=str) + "\n")
    return out


def read_bundle(path: Path) -> BundleMetadata:
    """A bundle's metadata.json, checked; a damaged one is one line, never a traceback."""
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
    return BundleMetadata.from_dict(doc, str(meta))


def verify_bundle(path: Path, *, allow_failed_gates: bool = False) -> BundleMetadata:
    """Check a bundle before it is used: the artifact (and its recorded reference outputs) are
    the ones its gates measured, the labels match the model's outputs, and the gates passed
    (unless the user says otherwise)."""
    path = Path(path)
    meta = read_bundle(path)
    art = path / meta.artifact.file
    if not art.exists():
        raise EdgebertError(f"bundle {path} has no {meta.artifact.file}", REEXPORT)
    if meta.artifact.sha256 is None or sha256_artifact(art) != meta.artifact.sha256:
        raise EdgebertError(f"{art} is not the artifact this bundle's gates measured (its sha256 differs from "
                            "metadata.json)", f"{REEXPORT}; never swap the model file inside a bundle")
    ref = meta.reference
    if ref is not None and ref.sha256 is not None and (
            not (path / ref.file).is_file() or sha256_artifact(path / ref.file) != ref.sha256):
        raise EdgebertError(f"{path / ref.file} is not the reference this bundle recorded at export time",
                            f"restore it or {REEXPORT}")
    labels_file = path / "labels.txt"
    try:
        labels = [line for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        raise EdgebertError(f"{labels_file} is missing or unreadable", REEXPORT) from None
    classes = meta.num_labels
    if labels != meta.labels or (classes is not None and classes != len(labels)):
        raise EdgebertError(f"{labels_file} lists {len(labels)} labels but the model has "
                            f"{classes if classes is not None else len(meta.labels)} outputs "
                            f"({', '.join(meta.labels)})", f"restore labels.txt or {REEXPORT}")
    if meta.gate_status == "failed" and not allow_failed_gates:
        why = "; ".join(meta.rejected_because) or "see gates in its metadata.json"
        raise EdgebertError(f"bundle {path.name} failed its gates ({why})",
                            "fix and re-export it, or pass --allow-failed-gates to use it anyway")
    return meta


def read_reference(path: Path, meta: BundleMetadata) -> dict[str, Any] | None:
    """The bundle's recorded PyTorch reference (None for bundles made before it existed),
    checked to fit the model's inputs and outputs; a damaged one is one line."""
    if meta.reference is None:
        return None
    file = Path(path) / meta.reference.file
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        rows = doc["examples"]
        seq, classes = meta.seq_len, len(meta.labels)
        ok = bool(rows) and all(len(r[n]) == seq for r in rows for n in INPUT_NAMES) and \
            all(len(r["logits"]) == classes for r in rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgebertError(f"{file} is missing or damaged ({type(exc).__name__}: {exc})", REEXPORT) from None
    if not ok:
        raise EdgebertError(f"{file} does not fit the model ({seq} tokens, {classes} outputs)", REEXPORT)
    return doc


def bundle_artifact(path: Path, meta: BundleMetadata | None = None) -> Artifact:
    """The Artifact a bundle holds, as its exporter's ``runner`` takes it (the inverse of write_bundle)."""
    path = Path(path)
    meta = meta or read_bundle(path)
    oq = meta.output_quantization
    return Artifact(meta.target, path / meta.artifact.file, meta.precision, list(meta.inputs), list(meta.outputs),
                    output_quantization=(oq["scale"], oq["zero_point"]) if oq else None, sequence=meta.sequence)
