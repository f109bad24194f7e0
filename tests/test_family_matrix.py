"""Every encoder family through the commands a user runs: eval, compress, export (each target,
gated) and run, on a folder saved by the pinned transformers with the tokenizer kind the family
ships (byte-level BPE for RoBERTa, SentencePiece Unigram for ALBERT, WordPiece otherwise)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from builders import FAMILIES, make_family_classifier, write_sentiment_csv
from edgebert.cli import app

RECIPE = """name: tiny
batch_size: 16
max_seq_len: 16
student: {init: teacher_layers, layers: [1]}
stages:
  - {type: distill, phase: prediction, epochs: 1, lr: 1.0e-3}
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_sentiment_csv(tmp_path_factory.mktemp("fdata") / "reviews.csv", 160, seed=11)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_goes_through_every_command(family, data, tmp_path):
    model = make_family_classifier(tmp_path / f"my-{family}", family)
    assert (model / "tokenizer.json").exists() and not (model / "vocab.txt").exists()  # as transformers 5 saves
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)

    res = invoke("eval", model, "--data", data, "--seq-len", 16, "--latency-runs", 0, "--json", tmp_path / "e.json")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["splits"][1]["accuracy"] >= 0.6  # better than chance (0.5): the trained fixture classifies in edgebert

    res = invoke("compress", "--teacher", model, "--data", data, "--recipe", recipe, "--out", tmp_path / "student",
                 "--max-steps", 2, "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    student = json.loads((tmp_path / "student" / "edgebert.json").read_text())
    assert student["family"] == family and len(student["layers"]) == 1

    res = invoke("export", model, "--calibration", data, "--target", "executorch,tflite,onnx", "--seq-len", 16,
                 "--calib-size", 4, "--eval-limit", 16, "--out", tmp_path / "bundles")
    assert res.exit_code == 0, res.output
    for target in ("executorch", "tflite", "onnx"):
        meta = json.loads((tmp_path / "bundles" / f"{target}-fp32" / "metadata.json").read_text())
        assert meta["gates"]["status"] == "passed" and meta["gates"]["parity"]["max_abs_diff"] <= 1e-4, target

    res = invoke("run", "--teacher", model, "--data", data, "--recipe", recipe, "--targets", "onnx", "--device", "none",
                 "--max-steps", 2, "--eval-limit", 16, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    arts = {a["name"]: a for a in json.loads((tmp_path / "run" / "report" / "report.json").read_text())["artifacts"]}
    assert arts["student onnx int8-dynamic"]["status"] == "passed"


@pytest.mark.parametrize("family, stage, why", [
    ("albert", {"type": "prune_heads", "fraction": 0.5}, "shares one layer's weights across depth"),
    ("mpnet", {"type": "prune_heads", "fraction": 0.5}, "relative position bias is shared by every head"),
    ("roberta", {"type": "trim_vocab"}, "not WordPiece"),
])
def test_a_step_a_family_cannot_take_fails_before_any_training(family, stage, why, data, tmp_path):
    import yaml

    model = make_family_classifier(tmp_path / family, family, train_steps=0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "student": {"init": "teacher"},
                                      "stages": [{"type": "distill", "phase": "prediction", "max_steps": 1}, stage]}))
    res = invoke("compress", "--teacher", model, "--data", data, "--recipe", recipe, "--out", tmp_path / "s")
    assert res.exit_code == 2 and why in res.output, res.output
    assert not (tmp_path / "s" / ".work").exists()  # refused before the first stage trained
