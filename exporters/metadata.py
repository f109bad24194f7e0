"""A bundle's ``metadata.json`` as a typed record: written and read here, and nowhere else.

Every wing reads bundles (the bench, the run report, the demo, the teacher lookup); they do
it through :class:`BundleMetadata`, so a field is named once and a damaged file is one line.
Keys this version does not know (written by a newer edgebert, or added by hand) are kept
in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgebert.errors import EdgebertError

from .base import Precision, TensorSpec
from .sequence import SequenceShape

FORMAT = "edgebert-bundle"
METADATA_VERSION = 1
REEXPORT = "re-export it with `edgebert export`"
GATE_STATUSES = ("passed", "failed", "unverified")


@dataclass
class ArtifactRecord:
    file: str
    bytes: int
    sha256: str | None


@dataclass
class FileRecord:
    """A file beside the artifact that numbers depend on (reference.json), pinned by its hash."""

    file: str
    sha256: str | None = None


@dataclass
class BundleMetadata:
    target: str
    precision: Precision
    artifact: ArtifactRecord
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    labels: list[str]
    seq_len: int  # the longest input; what ``sequence`` says the app feeds
    sequence: SequenceShape | None = None  # None in the constructor: static at seq_len
    status: str = "passed"  # passed | rejected | unverified
    rejected_because: list[str] = field(default_factory=list)
    gates: dict[str, Any] = field(default_factory=dict)
    source_checkpoint: dict[str, Any] = field(default_factory=dict)  # name, sha256, parameters (no paths)
    calibration: dict[str, Any] = field(default_factory=dict)  # source name, data_sha256, size, seed, sha256
    reference: FileRecord | None = None
    output_quantization: dict[str, float] | None = None  # scale, zero_point of an int8 output
    quantization: dict[str, Any] = field(default_factory=dict)
    float_modules: list[str] = field(default_factory=list)
    fallback_attempts: list[dict[str, Any]] = field(default_factory=list)
    sensitivity: list[dict[str, Any]] | None = None
    precision_report: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    format_version: int = METADATA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sequence is None:
            self.sequence = SequenceShape.static(self.seq_len)

    # ---------------------------------------------------------------- derived
    @property
    def gate_status(self) -> str:
        """passed | failed | unverified (numerics not checked where the bundle was made)."""
        if self.status == "rejected":
            return "failed"
        status = self.gates.get("status")
        if status in GATE_STATUSES:
            return status
        return "passed" if self.gates.get("passed") and self.status == "passed" else "failed"

    @property
    def accuracy_gate(self) -> dict[str, Any] | None:
        """The accuracy gate's record: split, examples, artifact and PyTorch accuracy."""
        return self.gates.get("accuracy") or None

    @property
    def num_labels(self) -> int | None:
        shape = self.outputs[0].shape if self.outputs else []
        return shape[-1] if shape and isinstance(shape[-1], int) else None

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": FORMAT}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name == "precision":
                value = str(value)
            elif f.name == "sequence":
                value = value.to_dict()
            elif f.name in ("artifact", "reference") and value is not None:
                value = dataclasses.asdict(value)
            elif f.name in ("inputs", "outputs"):
                value = [dataclasses.asdict(t) for t in value]
            doc[f.name] = value
        return {**doc, **self.extra}

    @classmethod
    def from_dict(cls, doc: Any, where: str = "metadata.json") -> "BundleMetadata":
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise EdgebertError(f"{where} is not an edgebert bundle's metadata", "pass a folder written by edgebert export")
        if int(doc.get("format_version", 0) or 0) > METADATA_VERSION:
            raise EdgebertError(f"{where} was written by a newer edgebert (bundle format {doc['format_version']})",
                                "upgrade edgebert")
        required = ("target", "precision", "artifact", "inputs", "outputs", "labels", "seq_len")
        missing = [k for k in required if k not in doc]
        if missing:
            raise EdgebertError(f"{where} lacks {', '.join(missing)}", REEXPORT)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        try:
            art = doc["artifact"]
            ref = doc.get("reference")
            return cls(
                **{k: v for k, v in doc.items() if k in known and k not in
                   ("precision", "artifact", "inputs", "outputs", "reference", "seq_len", "labels", "sequence")},
                sequence=SequenceShape.from_dict(doc.get("sequence"), int(doc["seq_len"]), where),
                precision=Precision(doc["precision"]),
                artifact=ArtifactRecord(str(art["file"]), int(art.get("bytes") or 0), art.get("sha256")),
                inputs=[TensorSpec(**t) for t in doc["inputs"]], outputs=[TensorSpec(**t) for t in doc["outputs"]],
                labels=[str(label) for label in doc["labels"]], seq_len=int(doc["seq_len"]),
                reference=(FileRecord(ref) if isinstance(ref, str) else FileRecord(**ref)) if ref else None,
                extra={k: v for k, v in doc.items() if k not in known and k != "format"},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgebertError(f"{where} has a malformed field ({type(exc).__name__}: {exc})", REEXPORT) from None
