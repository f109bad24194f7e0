"""TFLite Model Metadata for BERT classifiers, written without tflite-support.

The TFLite Task Library's ``BertNLClassifier`` and MediaPipe's ``TextClassifier`` find
the WordPiece vocab, the input roles (ids / mask / segment_ids) and the label file in the
model's metadata. ``tflite-support`` writes it but pins protobuf<4, which clashes with
onnx, so the few metadata tables are written directly with the ``flatbuffers`` package
(ai_edge_litert ships the model schema but not the metadata schema). Checked against
tflite-support 0.4.4's reader and Task Library's BertNLClassifier in a throwaway env.

Only a WordPiece tokenizer gets an input process unit. The schema has none for byte-level BPE,
and its SentencePieceTokenizerOptions needs a SentencePiece ``.model``: a tokenizer.json holds
none, and one rebuilt from it would not be faithful (its normalizer / pre-tokenizer chain, added
tokens and id layout, e.g. XLM-R's fairseq offset, have no NormalizerSpec / ModelProto form;
even ALBERT's own .model is not its tokenizer: HF lowercases and strips accents outside it). Those bundles get metadata without a tokenizer
and a note to tokenize with tokenizer.json.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .base import INPUT_NAMES, ExportError


def as_text(x) -> str:
    return x.decode() if isinstance(x, (bytes, bytearray)) else str(x)


def tensor_name(t) -> str:
    return as_text(t.name)

#
# TFLite Model Metadata (tensorflow/tflite-support metadata_schema.fbs, file identifier
# "M001") is a FlatBuffer stored in a model buffer referenced by a model.metadata entry named
# "TFLITE_METADATA"; associated files (vocab, labels) are a zip archive appended to the
# .tflite. ai_edge_litert ships the *model* schema but not the metadata schema, so the few
# metadata tables needed here are written with flatbuffers.Builder. Field slots follow the
# order of declaration in metadata_schema.fbs (a union takes two slots: type, value).

METADATA_NAME = "TFLITE_METADATA"
_METADATA_IDENT = b"M001"
_MIN_PARSER_VERSION = "1.1.0"  # BertTokenizerOptions / input_process_units were added in 1.1.0
_FILE_VOCABULARY, _FILE_TENSOR_AXIS_LABELS = 5, 2  # AssociatedFileType
_CONTENT_FEATURE = 1  # ContentProperties.FeatureProperties
_PROCESS_BERT_TOKENIZER = 4  # ProcessUnitOptions.BertTokenizerOptions
# metadata names the TFLite Task Library (BertNLClassifier) and MediaPipe (BertPreprocessorCalculator)
# look input tensors up by; the score output is looked up as "probability"
METADATA_INPUT_NAMES = {"input_ids": "ids", "attention_mask": "mask", "token_type_ids": "segment_ids"}
METADATA_OUTPUT_NAME = "probability"


def _table(b, fields: list[tuple[str, int, Any]]) -> int:
    """fields: (kind, slot, value) with kind in off/byte/uoff; value None is skipped."""
    b.StartObject(max((s for _, s, _ in fields), default=-1) + 1)
    for kind, slot, value in fields:
        if value is None:
            continue
        if kind == "byte":
            b.PrependUint8Slot(slot, value, 0)
        else:
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
    return b.EndObject()


def _vector(b, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _assoc_file(b, name: str, description: str, ftype: int) -> int:
    n, d = b.CreateString(name), b.CreateString(description)
    return _table(b, [("off", 0, n), ("off", 1, d), ("byte", 2, ftype)])


def _tensor_md(b, name: str, description: str, files: list[int] | None = None) -> int:
    n, d = b.CreateString(name), b.CreateString(description)
    feature = _table(b, [])
    content = _table(b, [("byte", 0, _CONTENT_FEATURE), ("off", 1, feature)])
    af = _vector(b, files) if files else None
    return _table(b, [("off", 0, n), ("off", 1, d), ("off", 3, content), ("off", 6, af)])


def build_metadata(input_order: list[str], *, vocab_name: str | None, labels_name: str | None, name: str,
                   description: str, version: str = "") -> bytes:
    """The ModelMetadata flatbuffer for a BERT text classifier (inputs listed in model order);
    without ``vocab_name`` no tokenizer (input process unit) is described."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    ids_role = ("token ids: [CLS] wordpiece ids [SEP], zero padded" if vocab_name else
                "token ids from the bundle's tokenizer.json, padded as edgebert_tokenizer.json says")
    roles = {"input_ids": ids_role,
             "attention_mask": "1 for real tokens, 0 for padding",
             "token_type_ids": "segment ids: 0 for the first text, 1 for the second"}
    ins = [_tensor_md(b, METADATA_INPUT_NAMES[n], roles[n]) for n in input_order]
    label_files = [_assoc_file(b, labels_name, "class labels, one per line in output order",
                               _FILE_TENSOR_AXIS_LABELS)] if labels_name else None
    out = _tensor_md(b, METADATA_OUTPUT_NAME, "class scores (logits; apply softmax for probabilities)", label_files)
    units = None
    if vocab_name:
        vocab = _assoc_file(b, vocab_name, "WordPiece vocabulary of the BERT tokenizer", _FILE_VOCABULARY)
        bert_opts = _table(b, [("off", 0, _vector(b, [vocab]))])
        units = _vector(b, [_table(b, [("byte", 0, _PROCESS_BERT_TOKENIZER), ("off", 1, bert_opts)])])
    sg_name = b.CreateString(name)
    sg = _table(b, [("off", 0, sg_name), ("off", 2, _vector(b, ins)), ("off", 3, _vector(b, [out])),
                    ("off", 5, units)])
    m_name, m_desc = b.CreateString(name), b.CreateString(description)
    m_version = b.CreateString(version) if version else None
    parser = b.CreateString(_MIN_PARSER_VERSION)
    root = _table(b, [("off", 0, m_name), ("off", 1, m_desc), ("off", 2, m_version),
                      ("off", 3, _vector(b, [sg])), ("off", 7, parser)])
    b.Finish(root, file_identifier=_METADATA_IDENT)
    return bytes(b.Output())


def write_metadata(tflite_path: str | Path, vocab_path: str | Path | None, labels_path: str | Path | None = None, *,
                   name: str = "edgebert text classifier", description: str = "", version: str = "",
                   out_path: str | Path | None = None) -> Path:
    """Add TFLite Model Metadata and pack vocab (and labels) into the model (in place by default).

    Task Library's BertNLClassifier and MediaPipe's TextClassifier then tokenize on device with
    their own WordPiece BertTokenizer (which lower-cases input: fit for uncased vocabularies).
    ``vocab_path`` None (a BPE / Unigram tokenizer): input roles and labels only, no tokenizer.
    """
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    tflite_path = Path(tflite_path)
    vocab_path = Path(vocab_path) if vocab_path else None
    labels_path = Path(labels_path) if labels_path else None
    out_path = Path(out_path) if out_path else tflite_path
    raw = tflite_path.read_bytes()
    if _has_metadata(raw) or zipfile.is_zipfile(tflite_path):
        raise ExportError(f"{tflite_path.name} already has metadata", "write metadata into a fresh export")
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(raw))
    sg = model.subgraphs[0]
    order = [_tensor_role(tensor_name(sg.tensors[i])) for i in sg.inputs]
    if sorted(order) != sorted(INPUT_NAMES) or len(sg.outputs) != 1:
        raise ExportError(f"{tflite_path.name} does not have the inputs {', '.join(INPUT_NAMES)} and one output",
                          "metadata is written for edgebert classifier exports only")
    md = build_metadata(order, vocab_name=vocab_path.name if vocab_path else None, labels_name=labels_path.name if labels_path else None,
                        name=name, description=description, version=version)
    buf = fb.BufferT()
    buf.data = np.frombuffer(md, dtype=np.uint8)
    model.buffers.append(buf)
    entry = fb.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if as_text(m.name) != METADATA_NAME] + [entry]
    out_path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    # associated files: a zip archive appended after the flatbuffer ("a" mode appends to a non-zip file)
    if vocab_path or labels_path:
        with zipfile.ZipFile(out_path, "a", compression=zipfile.ZIP_STORED) as zf:
            for path in (vocab_path, labels_path):
                if path:
                    zf.write(path, path.name)
    return out_path


TOKENIZER_NOTES = {
    "bpe": "TFLite metadata cannot describe a byte-level BPE tokenizer; tokenize with tokenizer.json",
    "unigram": "TFLite metadata describes a Unigram tokenizer only through a SentencePiece .model file, which "
               "tokenizer.json does not contain and cannot be rebuilt from faithfully; tokenize with tokenizer.json",
}


def write_bundle_metadata(bundle_dir: Path, artifact_file: Path, labels: list[str]) -> list[str]:
    """Metadata for a bundle's .tflite, chosen by its edgebert_tokenizer.json; returns the bundle notes."""
    import json

    settings = json.loads((bundle_dir / "edgebert_tokenizer.json").read_text())
    kind = settings.get("type", "bert-wordpiece")
    if kind == "bert-wordpiece":
        write_metadata(artifact_file, bundle_dir / "vocab.txt", bundle_dir / "labels.txt",
                       description=f"BERT text classifier ({', '.join(labels)}) exported by edgebert")
        return ["TFLite metadata (vocab, input roles ids/mask/segment_ids, labels) for Task Library "
                "BertNLClassifier / MediaPipe TextClassifier"]
    write_metadata(artifact_file, None, bundle_dir / "labels.txt",
                   description=f"text classifier ({', '.join(labels)}) exported by edgebert; tokenize with tokenizer.json")
    return ["TFLite metadata (input roles ids/mask/segment_ids, labels; no tokenizer)",
            TOKENIZER_NOTES.get(kind, f"TFLite metadata cannot describe a {kind} tokenizer; tokenize with tokenizer.json")]


def _tensor_role(tensor_name: str) -> str:
    """'serving_default_input_ids:0' -> 'input_ids'."""
    for n in INPUT_NAMES:
        if tensor_name == n or tensor_name.endswith("_" + n) or tensor_name.split(":")[0].endswith("_" + n):
            return n
    return tensor_name


def _has_metadata(raw: bytes) -> bool:
    from ai_edge_litert import schema_py_generated as fb

    m = fb.Model.GetRootAs(raw, 0)
    return any(as_text(m.Metadata(i).Name()) == METADATA_NAME for i in range(m.MetadataLength()))


def read_metadata(tflite_path: str | Path) -> dict[str, Any]:
    """Decode what ``write_metadata`` wrote (a structural reader, not a full metadata parser)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    raw = Path(tflite_path).read_bytes()
    m = fb.Model.GetRootAs(raw, 0)
    idx = next((m.Metadata(i).Buffer() for i in range(m.MetadataLength())
                if as_text(m.Metadata(i).Name()) == METADATA_NAME), None)
    if idx is None:
        return {}
    buf = m.Buffers(idx)
    data = bytes(buf.DataAsNumpy()) if buf.DataLength() else raw[buf.Offset():buf.Offset() + buf.Size()]
    if not flatbuffers.util.BufferHasIdentifier(data, 0, _METADATA_IDENT):
        raise ExportError(f"{Path(tflite_path).name}: TFLITE_METADATA is not a metadata flatbuffer")

    def table(buf_bytes, pos):
        return flatbuffers.table.Table(buf_bytes, pos)

    def field(t, slot):
        return t.Offset(4 + 2 * slot)

    def string(t, slot):
        o = field(t, slot)
        return as_text(t.String(o + t.Pos)) if o else None

    def byte(t, slot):
        o = field(t, slot)
        return t.Get(flatbuffers.number_types.Uint8Flags, o + t.Pos) if o else 0

    def tables(t, slot):
        o = field(t, slot)
        if not o:
            return []
        start, n = t.Vector(o), t.VectorLen(o)
        return [table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]

    def sub(t, slot):
        o = field(t, slot)
        return table(t.Bytes, t.Indirect(o + t.Pos)) if o else None

    def files(t, slot):
        return [{"name": string(f, 0), "type": byte(f, 2)} for f in tables(t, slot)]

    root = table(bytearray(data), flatbuffers.encode.Get(flatbuffers.packer.uoffset, bytearray(data), 0))
    sgs = tables(root, 3)
    sg = sgs[0] if sgs else None
    units = []
    for u in tables(sg, 5) if sg else []:
        opts = sub(u, 1)
        units.append({"type": byte(u, 0), "vocab_file": files(opts, 0) if opts else []})
    packed: list[str] = []
    if zipfile.is_zipfile(tflite_path):
        with zipfile.ZipFile(tflite_path) as zf:
            packed = zf.namelist()
    return {
        "name": string(root, 0), "description": string(root, 1), "min_parser_version": string(root, 7),
        "inputs": [string(t, 0) for t in tables(sg, 2)] if sg else [],
        "outputs": [{"name": string(t, 0), "associated_files": files(t, 6)} for t in tables(sg, 3)] if sg else [],
        "input_process_units": units,
        "packed_files": packed,
    }
