"""A bundle is verified before use: the artifact its gates measured, labels that match the
outputs, gates that passed; and it carries no path of the machine that made it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from edgebert.data import load_labelled
from edgebert.errors import EdgebertError
from edgebert.exporters.bundle import read_bundle, verify_bundle
from edgebert.exporters.export import ExportOptions, export_model


@pytest.fixture(scope="module")
def bundle(hf_bert_dir, sentiment_csv, tmp_path_factory):
    data = load_labelled(sentiment_csv, label_names=["neg", "pos"])
    out = tmp_path_factory.mktemp("bundles")
    (res,) = export_model(hf_bert_dir, data, out, ExportOptions(["onnx"], seq_len=16, calib_size=4, eval_limit=16))
    assert res.passed
    return res.path


@pytest.fixture
def copy(bundle, tmp_path):
    dest = tmp_path / bundle.name
    shutil.copytree(bundle, dest)
    return dest


def _meta(path):
    return json.loads((path / "metadata.json").read_text())


def _write_meta(path, doc):
    (path / "metadata.json").write_text(json.dumps(doc))


def test_a_fresh_bundle_verifies_and_records_the_artifact_hash(bundle):
    meta = verify_bundle(bundle)
    assert meta.artifact.sha256 == hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest()
    assert meta.gate_status == "passed" and meta.target == "onnx" and meta.labels == ["neg", "pos"]


def test_a_swapped_artifact_is_refused(copy):
    art = copy / "model.onnx"
    art.write_bytes(art.read_bytes()[:-1] + b"\0")  # one byte differs: another model as far as the gates know
    with pytest.raises(EdgebertError, match="not the artifact this bundle's gates measured"):
        verify_bundle(copy)


def test_labels_must_match_the_outputs(copy):
    (copy / "labels.txt").write_text("neg\npos\nneutral\n")
    with pytest.raises(EdgebertError, match="lists 3 labels but the model has 2 outputs"):
        verify_bundle(copy)
    (copy / "labels.txt").write_text("pos\nneg\n")  # same count, swapped order: every prediction would be wrong
    with pytest.raises(EdgebertError, match="labels"):
        verify_bundle(copy)


def test_failed_gates_need_an_explicit_allow(copy):
    doc = _meta(copy)
    doc["gates"]["passed"], doc["gates"]["status"] = False, "failed"
    doc["status"] = "rejected"
    doc["rejected_because"] = ["accuracy dropped 3.00 points (budget 1.0)"]
    _write_meta(copy, doc)
    with pytest.raises(EdgebertError) as err:
        verify_bundle(copy)
    assert "failed its gates (accuracy dropped 3.00 points" in err.value.one_line()
    assert "--allow-failed-gates" in err.value.one_line()
    assert verify_bundle(copy, allow_failed_gates=True).status == "rejected"


@pytest.mark.parametrize("damage, expected", [
    ("{not json", "is not valid JSON"),
    ("[]", "is not an edgebert bundle's metadata"),
    ('{"format": "edgebert-bundle", "target": "onnx"}', "lacks precision"),
    ('{"format": "edgebert-bundle", "target": "onnx", "precision": "int3", "artifact": {"file": "m"}, "inputs": [], '
     '"outputs": [], "labels": [], "seq_len": 8}', "has a malformed field"),
    ('{"format": "other"}', "is not an edgebert bundle's metadata"),
])
def test_damaged_metadata_is_one_line(copy, damage, expected):
    (copy / "metadata.json").write_text(damage)
    with pytest.raises(EdgebertError) as err:
        read_bundle(copy)
    assert expected in err.value.one_line() and "\n" not in err.value.one_line()


def test_no_path_of_the_machine_that_made_it(bundle, hf_bert_dir, sentiment_csv):
    """metadata.json (which the demo serves to a phone) names sources by name and hash only."""
    import edgebert

    data = b"".join(p.read_bytes() for p in bundle.iterdir() if p.is_file())  # the artifact included
    source = Path(edgebert.__file__).resolve().parents[1]  # the exporter records stack traces by default
    for path in (hf_bert_dir.resolve(), sentiment_csv.resolve(), bundle.resolve().parent, source):
        assert str(path).encode() not in data, path
    meta = _meta(bundle)
    assert meta["source_checkpoint"]["name"] == hf_bert_dir.name
    assert meta["calibration"]["source"] == sentiment_csv.name


def test_the_bench_still_finds_the_source_checkpoint_by_hash(bundle, hf_bert_dir):
    from edgebert.devices.teacher_bundle import source_checkpoint, teacher_data

    import dataclasses

    meta = read_bundle(bundle)
    assert source_checkpoint(meta).resolve() == hf_bert_dir.resolve()
    assert len(teacher_data(meta)) == 200
    assert source_checkpoint(dataclasses.replace(meta, source_checkpoint={"sha256": "0" * 64})) is None


def test_a_changed_reference_is_refused(copy):
    """The recorded PyTorch outputs the device is checked against are pinned like the artifact."""
    ref = copy / "reference.json"
    doc = json.loads(ref.read_text())
    doc["examples"][0]["logits"][0] += 1.0
    ref.write_text(json.dumps(doc))
    with pytest.raises(EdgebertError, match="not the reference this bundle recorded"):
        verify_bundle(copy)


def test_metadata_round_trips_and_keeps_unknown_keys(copy):
    from edgebert.exporters.metadata import BundleMetadata

    doc = _meta(copy)
    doc["added_by_a_newer_version"] = {"x": 1}
    again = BundleMetadata.from_dict(doc).to_dict()
    assert again == doc
