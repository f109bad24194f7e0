"""Find (or export) the full-size teacher bundle every benchmark is compared against.

A compressed model's numbers mean little alone: the report always shows speedup and size
ratio against the fp32 teacher exported to the same target and measured by the same runner
in the same session. The teacher is ``--teacher BUNDLE`` when given; otherwise the one the
bundle's source checkpoint names (compression provenance), the source itself when it is
not a compressed student, or edgebert's default teacher for the default task.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgebert.errors import EdgebertError
from edgebert.exporters.base import FLOAT
from edgebert.inputs import is_default_task, load_data
from edgebert.model import weights_sha256
from edgebert.progress import console

NO_TEACHER_HINT = "pass --teacher BUNDLE (the fp32 teacher exported with `edgebert export` to the same target)"


def _default_task(meta: dict) -> bool:
    return is_default_task(meta.calibration.get("source", ""))


def source_checkpoint(meta: dict) -> Path | None:
    """The bundle's source checkpoint on this machine: found by its weights' hash in the local
    index (bundles carry no paths), or the path an older bundle recorded; None if not here."""
    from edgebert.sources import recall

    rec = meta.source_checkpoint
    sha = rec.get("sha256")
    for candidate in (recall("checkpoint", sha), Path(rec["path"]) if rec.get("path") else None):
        if candidate is not None and candidate.is_dir() and weights_sha256(candidate) == sha:
            return candidate
    return None


def teacher_checkpoint(meta: dict) -> Path:
    """The teacher checkpoint folder for a bundle, from its metadata."""
    src = source_checkpoint(meta)
    if src is not None:
        prov = {}
        if (src / "edgebert.json").exists():
            prov = json.loads((src / "edgebert.json").read_text()).get("provenance", {})
        named = (prov.get("compression") or {}).get("teacher")
        if named and Path(named).exists():
            return Path(named)
        if not prov.get("compression"):
            return src  # exported from the teacher itself (e.g. its int8 bundle)
    if _default_task(meta):
        from edgebert.teacher_head import default_teacher

        return default_teacher()
    name = meta.source_checkpoint.get("name") or "an unknown checkpoint"
    raise EdgebertError(f"cannot find the teacher of the bundle (made from {name}, not on this machine)",
                        NO_TEACHER_HINT)


def teacher_data(meta: dict):
    """The labelled data the bundle was calibrated/gated on, so the teacher is gated on it too."""
    from edgebert.sources import recall

    calib = meta.calibration
    source = str(calib.get("source", ""))
    if _default_task(meta):
        return load_data(None)
    sha = calib.get("data_sha256")
    legacy = Path(source) if not sha and source and Path(source).is_absolute() else None  # older bundles
    found = recall("data", sha) or (legacy if legacy is not None and legacy.exists() else None)
    if found is not None:
        from edgebert.data import examples_hash, load_labelled

        data = load_labelled(found, label_names=meta.labels)
        if sha is None or examples_hash(data.examples) == sha:
            return data
    raise EdgebertError(f"the bundle's data ({source or 'unknown'}) is not on this machine", NO_TEACHER_HINT)


def _matches(meta: dict, target: str, seq_len: int, sha: str | None) -> bool:
    return (meta.target == target and meta.seq_len == seq_len and meta.precision.is_float
            and sha is not None and meta.source_checkpoint.get("sha256") == sha)


def export_teacher(meta: dict, cache: Path, eval_limit: int | None = None) -> Path:
    """The teacher exported fp32 to the bundle's target at its seq len (reused from ``cache``)."""
    from edgebert.exporters.bundle import read_bundle
    from edgebert.exporters.export import ExportOptions, export_model

    ckpt = teacher_checkpoint(meta)
    target, seq_len = meta.target, meta.seq_len
    sha = weights_sha256(ckpt)
    dest = cache / f"seq{seq_len}"
    for old in sorted(dest.glob(f"{target}-*")) if dest.exists() else []:
        if (old / "metadata.json").exists() and _matches(read_bundle(old), target, seq_len, sha):
            return old
    console.print(f"exporting the teacher ({ckpt.name}) to {target} fp32 at seq len {seq_len} for comparison ...")
    (res,) = export_model(ckpt, teacher_data(meta), dest,
                          ExportOptions([target], FLOAT, seq_len=seq_len, eval_limit=eval_limit))
    return res.path


def resolve_teachers(bundles: dict[Path, dict], given: list[Path], cache: Path,
                     eval_limit: int | None = None) -> dict[Path, Path]:
    """Bundle -> teacher bundle: a given one of the same target and seq len, a bundle in the
    list that is itself the fp32 teacher, or a fresh export."""
    from edgebert.exporters.bundle import read_bundle

    given_meta = {Path(p): read_bundle(Path(p)) for p in given}
    out: dict[Path, Path] = {}
    exported: dict[tuple[str, int], Path] = {}
    for path, meta in bundles.items():
        key = (meta.target, meta.seq_len)
        match = [p for p, m in given_meta.items() if (m.target, m.seq_len) == key]
        if match:
            out[path] = match[0]
            continue
        if given_meta and not match and key not in exported:
            console.print(f"[yellow]no --teacher for {key[0]} at seq len {key[1]}; exporting one[/]")
        if key not in exported:
            ckpt_sha = None
            try:
                ckpt_sha = weights_sha256(teacher_checkpoint(meta))
            except EdgebertError:
                pass
            itself = [p for p, m in bundles.items() if _matches(m, *key, ckpt_sha)]
            exported[key] = itself[0] if itself else export_teacher(meta, cache, eval_limit)
        out[path] = exported[key]
    return out
