"""Which TFLite metadata a bundle gets (TFLiteExporter.finalize_bundle), by its tokenizer.

A WordPiece vocab in the metadata makes Task Library / MediaPipe tokenize on device; put there
for a BPE or Unigram model it would feed the model wrong ids with no error anywhere.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from builders import write_tokenizer
from edgebert.data.tokenizer_files import tokenizer_settings, write_vocab_txt

TEXTS = ["the movie was great", "the plot was boring", "a charming film", "what a dull story"] * 5
LABELS = ["neg", "pos"]


def _fake_tflite(path: Path) -> Path:
    """A flatbuffer with an edgebert export's inputs and one output, no ops: all write_metadata reads."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    model, sg = fb.ModelT(), fb.SubGraphT()
    sg.tensors = []
    for name in ("serving_default_input_ids:0", "serving_default_attention_mask:0",
                 "serving_default_token_type_ids:0", "StatefulPartitionedCall:0"):
        t = fb.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 8], fb.TensorType.INT32, 0
        sg.tensors.append(t)
    sg.inputs, sg.outputs, sg.operators = [0, 1, 2], [3], []
    model.version, model.subgraphs, model.buffers, model.operatorCodes = 3, [sg], [fb.BufferT()], []
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    return path


def _bundle(tmp_path: Path, kind: str) -> Path:
    """The files write_bundle puts next to the artifact before finalize_bundle runs."""
    from tokenizer_kinds import write_bpe_tokenizer, write_unigram_tokenizer

    src = tmp_path / "src"
    if kind == "wordpiece":
        write_tokenizer(src)
    else:
        (write_bpe_tokenizer if kind == "bpe" else write_unigram_tokenizer)(src, TEXTS, vocab_size=200)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "tokenizer.json").write_bytes((src / "tokenizer.json").read_bytes())
    write_vocab_txt(src, bundle / "vocab.txt")
    (bundle / "edgebert_tokenizer.json").write_text(json.dumps(tokenizer_settings(src, 8)))
    (bundle / "labels.txt").write_text("\n".join(LABELS) + "\n")
    _fake_tflite(bundle / "model.tflite")
    return bundle


def _finalize(bundle: Path) -> list[str]:
    from edgebert.exporters.targets.tflite import TFLiteExporter

    return TFLiteExporter().finalize_bundle(bundle, bundle / "model.tflite", LABELS)


def test_a_wordpiece_bundle_gets_the_bert_tokenizer(tmp_path):
    from edgebert.exporters.tflite_metadata import read_metadata

    bundle = _bundle(tmp_path, "wordpiece")
    notes = _finalize(bundle)
    md = read_metadata(bundle / "model.tflite")
    assert md["input_process_units"] == [{"type": 4, "vocab_file": [{"name": "vocab.txt", "type": 5}]}]
    assert md["inputs"] == ["ids", "mask", "segment_ids"] and sorted(md["packed_files"]) == ["labels.txt", "vocab.txt"]
    assert notes == ["TFLite metadata (vocab, input roles ids/mask/segment_ids, labels) for Task Library "
                     "BertNLClassifier / MediaPipe TextClassifier"]


@pytest.mark.parametrize("kind,says", [
    ("bpe", "TFLite metadata cannot describe a byte-level BPE tokenizer; tokenize with tokenizer.json"),
    ("unigram", "SentencePiece .model file, which tokenizer.json does not contain"),
])
def test_a_bpe_or_unigram_bundle_gets_no_tokenizer(tmp_path, kind, says):
    from edgebert.exporters.tflite_metadata import read_metadata

    bundle = _bundle(tmp_path, kind)
    assert not (bundle / "vocab.txt").exists()
    notes = _finalize(bundle)
    md = read_metadata(bundle / "model.tflite")
    assert md["input_process_units"] == [] and md["inputs"] == ["ids", "mask", "segment_ids"]
    assert md["outputs"] == [{"name": "probability", "associated_files": [{"name": "labels.txt", "type": 2}]}]
    with zipfile.ZipFile(bundle / "model.tflite") as zf:
        assert zf.namelist() == ["labels.txt"]
    assert any(says in n for n in notes) and "tokenizer.json" in md["description"]
