"""Bundles from both ways users' tokenizer folders are made carry the same vocabulary.

transformers 5 saves ``tokenizer.json`` + ``tokenizer_config.json`` and no ``vocab.txt``; hub
folders carry the ``vocab.txt`` their authors uploaded too. Whichever a folder holds, the
bundle's vocab.txt, its special-token ids and the vocabulary packed into the TFLite metadata
must be the tokenizer's, checked against ``tiny_vocab()`` (the list the fixture was built
from), not against another file the exporter wrote.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from builders import make_hf_bert, tiny_vocab
from edgebert.data import load_labelled
from edgebert.exporters.export import ExportOptions, export_model
from edgebert.exporters.tflite_metadata import read_metadata


@pytest.fixture(scope="module", params=[False, True], ids=["transformers-5", "hub-style"])
def bundles(request, sentiment_csv, tmp_path_factory):
    hub = request.param
    model = make_hf_bert(tmp_path_factory.mktemp("tok"), id2label={0: "neg", 1: "pos"}, hub_style=hub, train_steps=0)
    assert (model / "vocab.txt").exists() == hub and (model / "tokenizer.json").exists()
    data = load_labelled(sentiment_csv, label_names=["neg", "pos"])
    opts = ExportOptions(["onnx", "tflite"], seq_len=16, calib_size=4, eval_limit=8)
    return {r.target: r.path for r in export_model(model, data, tmp_path_factory.mktemp("out"), opts)}


@pytest.mark.parametrize("target", ["onnx", "tflite"])
def test_bundle_vocab_and_special_ids_are_the_tokenizers(bundles, target):
    path = bundles[target]
    assert (path / "vocab.txt").read_text(encoding="utf-8").splitlines() == tiny_vocab()
    settings = json.loads((path / "edgebert_tokenizer.json").read_text())
    ids = {t: i for i, t in enumerate(tiny_vocab())}
    assert {k: settings[k] for k in ("pad_id", "unk_id", "cls_id", "sep_id", "mask_id")} == \
        {"pad_id": ids["[PAD]"], "unk_id": ids["[UNK]"], "cls_id": ids["[CLS]"], "sep_id": ids["[SEP]"],
         "mask_id": ids["[MASK]"]}
    assert settings["vocab_file"] == "vocab.txt" and settings["do_lower_case"] is True


def test_tflite_metadata_packs_the_same_vocab(bundles):
    model = bundles["tflite"] / "model.tflite"
    md = read_metadata(model)
    assert md["input_process_units"] == [{"type": 4, "vocab_file": [{"name": "vocab.txt", "type": 5}]}]
    with zipfile.ZipFile(model) as zf:
        assert zf.read("vocab.txt").decode("utf-8").splitlines() == tiny_vocab()
        assert zf.read("labels.txt").decode("utf-8").splitlines() == ["neg", "pos"]
