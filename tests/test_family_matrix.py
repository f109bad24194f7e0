"""Every encoder family through the commands a user runs: eval, compress, export (each target,
gated) and run, on a folder saved by the pinned transformers with the tokenizer kind the family
ships (byte-level BPE for RoBERTa, SentencePiece Unigram for ALBERT, WordPiece otherwise)."""

from __future__ import annotations

import json
import sys

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

    res = invoke("export", model, "--calibration", data, "--target", "executorch,tflite,onnx,coreml", "--seq-len", 16,
                 "--calib-size", 4, "--eval-limit", 16, "--out", tmp_path / "bundles")
    assert res.exit_code == 0, res.output
    for target in ("executorch", "tflite", "onnx"):
        meta = json.loads((tmp_path / "bundles" / f"{target}-fp32" / "metadata.json").read_text())
        assert meta["gates"]["status"] == "passed" and meta["gates"]["parity"]["max_abs_diff"] <= 1e-4, target
    # Core ML converts every family; its numerics run only on macOS, so off it the gate checks structure
    coreml = json.loads((tmp_path / "bundles" / "coreml-fp16" / "metadata.json").read_text())["gates"]
    assert coreml["structure"]["passed"], coreml
    assert coreml["status"] == ("passed" if sys.platform == "darwin" else "unverified"), coreml

    res = invoke("run", "--teacher", model, "--data", data, "--recipe", recipe, "--targets", "onnx", "--device", "none",
                 "--max-steps", 2, "--eval-limit", 16, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    arts = {a["name"]: a for a in json.loads((tmp_path / "run" / "report" / "report.json").read_text())["artifacts"]}
    assert arts["student onnx int8-dynamic"]["status"] == "passed"


@pytest.mark.parametrize("family, stage, why", [
    ("albert", {"type": "prune_heads", "fraction": 0.5}, "shares one layer's weights across depth"),
    ("mpnet", {"type": "prune_heads", "fraction": 0.5}, "relative position bias is shared by every head"),
    ("mobilebert", {"type": "prune_ffn", "fraction": 0.5}, "stacks 2 feed-forward networks"),
])
def test_a_step_a_family_cannot_take_fails_before_any_training(family, stage, why, data, tmp_path):
    import yaml

    model = make_family_classifier(tmp_path / family, family, train_steps=0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "max_seq_len": 16, "student": {"init": "teacher"},
                                      "stages": [{"type": "distill", "phase": "prediction", "max_steps": 1}, stage]}))
    res = invoke("compress", "--teacher", model, "--data", data, "--recipe", recipe, "--out", tmp_path / "s")
    assert res.exit_code == 2 and why in res.output, res.output
    assert not (tmp_path / "s" / ".work").exists()  # refused before the first stage trained


@pytest.mark.parametrize("family", ["roberta", "albert"])
def test_trim_vocab_shrinks_a_byte_level_bpe_or_unigram_student(family, tmp_path):
    """ALBERT refuses layer selection, not trimming: its Unigram tokenizer is edited like RoBERTa's BPE.
    The task's text uses a few of the words the tokenizers were trained on, so there is something to drop."""
    import yaml

    from edgebert.model import load_model

    data = tmp_path / "few-words.csv"
    data.write_text("text,label\n" + "".join(f"it is a {w} plot,{lab}\n" for _ in range(20)
                                             for w, lab in (("great", "pos"), ("dull", "neg"))))
    model = make_family_classifier(tmp_path / family, family, train_steps=0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "max_seq_len": 16, "student": {"init": "teacher"},
                                      "stages": [{"type": "distill", "phase": "prediction", "max_steps": 1},
                                                 {"type": "trim_vocab"}]}))
    res = invoke("compress", "--teacher", model, "--data", data, "--recipe", recipe, "--out", tmp_path / "s",
                 "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    student = tmp_path / "s"
    assert (student / "tokenizer.json").stat().st_size < (model / "tokenizer.json").stat().st_size
    vocab = json.loads((student / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == load_model(student).config.vocab_size < load_model(model).config.vocab_size
    # the trimmed tokenizer travels into the bundle and the runtime gate scores through it
    res = invoke("export", student, "--calibration", data, "--target", "onnx", "--seq-len", 16,
                 "--calib-size", 4, "--eval-limit", 8, "--out", tmp_path / "bundles")
    assert res.exit_code == 0, res.output
    bundle = tmp_path / "bundles" / "onnx-fp32"
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["gates"]["status"] == "passed" and meta["gates"]["parity"]["max_abs_diff"] <= 1e-4
    assert json.loads((bundle / "tokenizer.json").read_text())["model"]["vocab"] == vocab


def test_a_mobilebert_teacher_distils_into_a_bert_student(data, tmp_path):
    """MobileBERT's hidden states leave each layer at hidden_size and its scores are pre-softmax,
    so every TinyBERT loss reaches a BERT student through the shared WordPiece tokenizer."""
    import yaml

    teacher = make_family_classifier(tmp_path / "mobilebert", "mobilebert")
    bert = make_family_classifier(tmp_path / "bert", "bert", train_steps=0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "batch_size": 16, "max_seq_len": 16,
                                      "student": {"init": "checkpoint", "path": str(bert), "layers": [0]},
                                      "stages": [{"type": "distill", "phase": "both", "lr": 1.0e-3}]}))
    res = invoke("compress", "--teacher", teacher, "--data", data, "--recipe", recipe, "--out", tmp_path / "s",
                 "--max-steps", 2, "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "s" / "edgebert.json").read_text())["family"] == "bert"
    stage = json.loads((tmp_path / "s" / "compress_report.json").read_text())["stages"][0]
    assert stage["weights"]["hidden"] and stage["weights"]["attention"] and stage["weights"]["logits"], stage


def test_a_mobilebert_student_distils_through_its_bottlenecks_and_loses_heads(data, tmp_path):
    """Heads live inside the bottleneck (query/key from the shared bottleneck, value from the
    layer input): pruning them must leave a student that reloads and exports at parity."""
    import yaml

    from edgebert.model import load_model

    teacher = make_family_classifier(tmp_path / "mobilebert", "mobilebert")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "batch_size": 16, "max_seq_len": 16, "student": {"init": "teacher"},
                                      "stages": [{"type": "distill", "phase": "both", "max_steps": 2},
                                                 {"type": "prune_heads", "fraction": 0.5, "importance_examples": 16}]}))
    res = invoke("compress", "--teacher", teacher, "--data", data, "--recipe", recipe, "--out", tmp_path / "s",
                 "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    student = load_model(tmp_path / "s")
    assert student.config.bottleneck_size == 16 and sum(l.num_heads for l in student.config.layers) == 4
    res = invoke("export", tmp_path / "s", "--calibration", data, "--target", "onnx", "--seq-len", 16,
                 "--calib-size", 4, "--eval-limit", 16, "--out", tmp_path / "bundles")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "bundles" / "onnx-fp32" / "metadata.json").read_text())
    assert meta["gates"]["status"] == "passed" and meta["gates"]["parity"]["max_abs_diff"] <= 1e-4


REFUSED = {"albert": {"prune_heads", "prune_ffn"}, "mpnet": {"prune_heads"}, "mobilebert": {"prune_ffn"}}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_compression_step_a_family_allows_leaves_a_student_that_exports_at_parity(family, data, tmp_path):
    """LayerDrop, TinyBERT distillation with every intermediate loss, and head and FFN pruning with
    physical slicing (where the family allows them; the refusals are tested above), then ONNX at parity."""
    import yaml

    from edgebert.model import load_model

    model = make_family_classifier(tmp_path / family, family)
    stages = [{"type": "layerdrop", "p": 0.5, "max_steps": 2},
              {"type": "distill", "phase": "both", "max_steps": 2, "lr": 1.0e-3},
              {"type": "prune_heads", "fraction": 0.5, "importance_examples": 32},
              {"type": "prune_ffn", "fraction": 0.5, "importance_examples": 32}]
    stages = [s for s in stages if s["type"] not in REFUSED.get(family, set())]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "r", "batch_size": 16, "max_seq_len": 16, "student": {"init": "teacher"},
                                      "stages": stages}))
    res = invoke("compress", "--teacher", model, "--data", data, "--recipe", recipe, "--out", tmp_path / "s",
                 "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "s" / "compress_report.json").read_text())
    distill = next(s for s in report["stages"] if s["type"] == "distill")
    assert distill["weights"]["hidden"] and distill["weights"]["attention"], distill  # intermediate losses ran
    before, after = load_model(model).config.layers, load_model(tmp_path / "s").config.layers
    heads = sum(l.num_heads for l in after) < sum(l.num_heads for l in before)
    ffn = sum(l.intermediate_size for l in after) < sum(l.intermediate_size for l in before)
    assert heads == ("prune_heads" not in REFUSED.get(family, set())), (before, after)
    assert ffn == ("prune_ffn" not in REFUSED.get(family, set())), (before, after)

    res = invoke("export", tmp_path / "s", "--calibration", data, "--target", "onnx", "--seq-len", 16,
                 "--calib-size", 4, "--eval-limit", 16, "--out", tmp_path / "bundles")
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "bundles" / "onnx-fp32" / "metadata.json").read_text())
    assert meta["gates"]["status"] == "passed" and meta["gates"]["parity"]["max_abs_diff"] <= 1e-4
