"""compress() end to end on tiny models: output folder, report, teachers of both kinds, kill -9 resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from edgebert.compression.run_recipe import REPORT_NAME, compress
from edgebert.compression.recipe import parse_recipe
from edgebert.errors import EdgebertError
from edgebert.model import load_model

BASE = {"max_seq_len": 16, "batch_size": 16, "checkpoint_every": 4}


def recipe(stages, student=None, **kw):
    return parse_recipe({**BASE, **kw, "student": student or {"init": "teacher_layers", "layers": [0, 2]},
                         "stages": stages})


def test_two_phase_distillation_writes_checkpoint_and_report(teacher_dir, labelled, tmp_path):
    r = recipe([{"type": "distill", "phase": "intermediate", "epochs": 1},
                {"type": "distill", "phase": "prediction", "epochs": 1, "hard": 0.5}])
    rep = compress(teacher_dir, labelled, r, tmp_path / "out", latency_runs=2)
    out = tmp_path / "out"
    assert {"edgebert.json", "model.safetensors", "tokenizer.json", REPORT_NAME} <= {p.name for p in out.iterdir()}
    assert not (out / ".work").exists()
    student = load_model(out, require_head=True)
    assert student.num_layers == 2 and student.config.provenance["kept_layers"] == [0, 2]
    assert student.config.provenance["head_training"]["max_seq_len"] == 16
    saved = json.loads((out / REPORT_NAME).read_text())
    assert saved["student"]["parameters"] == student.num_parameters() < saved["teacher"]["parameters"]
    assert saved["student"]["size_bytes"] < saved["teacher"]["size_bytes"]
    for side in ("teacher", "student"):
        assert {"dev", "test", "latency"} <= set(saved[side])
        assert 0 <= saved[side]["test"]["accuracy"] <= 1
    first, second = saved["stages"]
    assert set(first["losses"]) == {"emb", "hid", "att", "loss"} and set(second["losses"]) == {"kd", "ce", "loss"}
    assert first["layer_map"] == [[0, 0], [1, 2]]  # from provenance: the layers the student was copied from
    assert all(s["seconds"] >= 0 and s["steps"] == 6 for s in saved["stages"])
    assert rep["data"]["train_used"] == 96


def test_prune_then_select_pipeline_shrinks_the_model(teacher_dir, labelled, tmp_path):
    r = recipe([{"type": "layerdrop", "p": 0.3, "max_steps": 3, "select": "every_other"},
                {"type": "prune_heads", "target_heads": 4, "iterations": 2, "importance_examples": 32,
                 "recover": {"max_steps": 2}},
                {"type": "prune_ffn", "fraction": 0.25, "importance_examples": 32}],
               student={"init": "teacher"})
    rep = compress(teacher_dir, labelled, r, tmp_path / "out", latency_runs=0, keep_work=True, checkpoint_every=1)
    assert not list((tmp_path / "out" / ".work").rglob("checkpoint-*"))  # finished stages drop their training state
    s = rep["student"]
    assert s["layers"] == 2 and s["kept_layers"] == [0, 2] and sum(s["heads"]) == 4
    assert sum(s["ffn"]) == 2 * 48 - round(0.25 * 96)
    assert (tmp_path / "out" / ".work" / "stage-2" / "iter-2" / "done.json").exists()
    model = load_model(tmp_path / "out")
    assert [l.num_heads for l in model.config.layers] == s["heads"]


def test_narrow_checkpoint_student_uses_projection(teacher_dir, labelled, tmp_path):
    from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification, save_checkpoint

    cfg = EdgeBertConfig.uniform(vocab_size=101, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=24,
                                 max_position_embeddings=64, label_names=["neg", "pos"])
    save_checkpoint(EdgeBertForSequenceClassification(cfg), tmp_path / "small", tokenizer_from=teacher_dir)
    r = recipe([{"type": "distill", "phase": "both", "max_steps": 3}],
               student={"init": "checkpoint", "path": str(tmp_path / "small")})
    rep = compress(teacher_dir, labelled, r, tmp_path / "out", latency_runs=0)
    assert rep["student"]["hidden_size"] == 16 and rep["stages"][0]["losses"]["att"]["mean"] > 0


def test_transformers_teacher_disables_attention_loss(tmp_path, labelled):
    import builders as rc
    from edgebert.compression.teacher_model import load_teacher

    rc.make_hf_deberta(tmp_path / "electra")  # a family edgebert's encoder does not read
    teacher = load_teacher(tmp_path / "electra")
    assert teacher.kind == "transformers" and not teacher.has_scores and teacher.label_names == ["neg", "pos"]
    r = recipe([{"type": "distill", "phase": "both", "max_steps": 3}],
               student={"init": "random", "num_layers": 1, "hidden_size": 16, "num_heads": 2, "intermediate_size": 24})
    rep = compress(tmp_path / "electra", labelled, r, tmp_path / "out", latency_runs=0)
    assert any("attention loss disabled" in n for n in rep["notes"])
    assert "att" not in rep["stages"][0]["losses"] and "hid" in rep["stages"][0]["losses"]
    with pytest.raises(EdgebertError, match="non-BERT transformers model"):
        compress(tmp_path / "electra", labelled, recipe([{"type": "distill"}], student={"init": "teacher"}),
                 tmp_path / "out2")


def test_refuses_foreign_output_folder_and_bad_labels(teacher_dir, labelled, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(EdgebertError, match="did not write"):
        compress(teacher_dir, labelled, recipe([{"type": "distill"}]), tmp_path / "mine")
    with pytest.raises(EdgebertError, match="teacher's folder"):
        compress(teacher_dir, labelled, recipe([{"type": "distill"}]), teacher_dir / "sub")
    from edgebert.data import Example, LabelledData

    odd = LabelledData([Example("good", "yes"), Example("bad", "no")] * 10, ["no", "yes"])
    with pytest.raises(EdgebertError, match="does not know"):
        compress(teacher_dir, odd, recipe([{"type": "distill"}]), tmp_path / "o")


def test_augmented_copies_get_teacher_labels_only(teacher_dir, labelled, tmp_path, glove_dir, monkeypatch):
    from edgebert.compression import augment as aug

    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(aug.GloveNeighbours, "packaged", classmethod(lambda cls, limit: cls.from_folder(glove_dir)))
    seen = {}
    import edgebert.compression.stage_runners as stages

    real_fit = stages.fit

    def spy(student, run, cfg, **kw):
        seen[run.label] = kw["data"]
        return real_fit(student, run, cfg, **kw)

    monkeypatch.setattr(stages, "fit", spy)
    r = recipe([{"type": "augment", "n": 2, "p": 0.9, "top_k": 2},
                {"type": "distill", "phase": "prediction", "max_steps": 2, "hard": 1.0},
                {"type": "finetune", "max_steps": 2}])
    rep = compress(teacher_dir, labelled, r, tmp_path / "out", latency_runs=0)
    n_aug = rep["data"]["augmented"]
    assert n_aug > 0 and rep["stages"][0]["method"] == "glove"
    assert any("no masked-LM head" in n for n in rep["notes"])
    kd, ft = seen["stage 2/3 distill"], seen["stage 3/3 finetune"]
    assert len(kd) == 96 + n_aug and int((kd.labels == -100).sum()) == n_aug
    assert all(e.label is None for e in kd.examples[96:])
    assert len(ft) == 96 and bool((ft.labels >= 0).all())  # hard-label training never sees augmented text
    assert list((tmp_path / "cache" / "augment").glob("*.jsonl"))


KILL_SCRIPT = """
import json, sys, time
import torch
torch.set_num_threads(1)  # as in the test process, so both runs do identical arithmetic
import edgebert.compression.stage_runners as st
real = st.batch_indices
def slow(*a, **k):
    time.sleep(0.1)
    return real(*a, **k)
st.batch_indices = slow
from edgebert.data import Columns, load_labelled
from edgebert.compression.run_recipe import compress
from edgebert.compression.recipe import parse_recipe
data = load_labelled(sys.argv[2], Columns(), label_names=["neg", "pos"])
compress(sys.argv[3], data, parse_recipe(json.loads(sys.argv[1])), sys.argv[4], latency_runs=0)
"""


def test_kill_9_then_rerun_resumes_to_the_same_weights(teacher_dir, labelled, data_csv, tmp_path):
    doc = {**BASE, "student": {"init": "teacher_layers", "layers": [0, 2]},
           "stages": [{"type": "distill", "phase": "intermediate", "epochs": 1},
                      {"type": "layerdrop", "p": 0.3, "epochs": 2, "hard": 0.5}]}
    compress(teacher_dir, labelled, parse_recipe(doc), tmp_path / "a", latency_runs=0)

    out = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, json.dumps(doc), str(data_csv), str(teacher_dir),
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    marker = out / ".work" / "stage-2" / "checkpoint-4"
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / REPORT_NAME).exists()

    rep = compress(teacher_dir, labelled, parse_recipe(doc), out, latency_runs=0)
    assert rep["resumed"] and rep["stages"][1]["resumed_from_step"] >= 4
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    first = json.loads((tmp_path / "a" / REPORT_NAME).read_text())
    assert first["stages"][1]["losses"] == rep["stages"][1]["losses"]


@pytest.fixture(scope="module")
def six_layer_teacher(tmp_path_factory, make_bert):
    return make_bert(tmp_path_factory.mktemp("t6"), layers=6, seed=2, id2label={0: "neg", 1: "pos"})


@pytest.mark.parametrize("name", ["tinybert-4l", "tinybert-4l-aug", "tinybert-4l-trim", "triple", "heads-50"])
def test_shipped_recipes_run(name, six_layer_teacher, labelled, tmp_path, glove_dir, monkeypatch):
    from edgebert.compression import augment as aug
    from edgebert.compression.recipe import load_recipe

    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(aug.GloveNeighbours, "packaged", classmethod(lambda cls, limit: cls.from_folder(glove_dir)))
    r = load_recipe(name)
    r.max_seq_len = 16
    rep = compress(six_layer_teacher, labelled, r, tmp_path / "out", max_steps=1, latency_runs=0)
    expected = {"tinybert-4l": (4, 16), "tinybert-4l-aug": (4, 16), "tinybert-4l-trim": (4, 16), "triple": (4, 16),
                "heads-50": (6, 12)}[name]
    assert (rep["student"]["layers"], sum(rep["student"]["heads"])) == expected
    if name == "triple":
        assert rep["student"]["kept_layers"] == [0, 1, 2, 4]
    if name == "tinybert-4l-trim":
        assert rep["stages"][-1]["vocab_after"] < rep["stages"][-1]["vocab_before"]


def test_layer_lists_are_checked_before_training(teacher_dir, labelled, tmp_path):
    from edgebert.compression.recipe import load_recipe

    with pytest.raises(EdgebertError, match=r"recipe stage 1 \(layerdrop\): keep \[0, 1, 2, 4\] names layer 4"):
        compress(teacher_dir, labelled, load_recipe("triple"), tmp_path / "out")
    assert not (tmp_path / "out" / ".work").exists()
    bad = recipe([{"type": "select_layers", "method": "keep", "keep": [0]},
                  {"type": "distill", "layer_map": [0, 1]}])
    with pytest.raises(EdgebertError, match=r"recipe stage 2 \(distill\): layer_map lists 2 layers but the student has 1"):
        compress(teacher_dir, labelled, bad, tmp_path / "out")


def test_general_distillation_on_unlabelled_text(teacher_dir, hf_encoder_dir, labelled, tmp_path):
    txt = tmp_path / "corpus.txt"
    txt.write_text("\n".join(["the film was very good", "a dull and messy plot", "it is a story", ""] * 10))
    r = recipe([{"type": "general_distill", "text": str(txt), "teacher": str(hf_encoder_dir), "max_steps": 3,
                 "layer_map": "last"},
                {"type": "distill", "phase": "prediction", "max_steps": 2}],
               student={"init": "random", "num_layers": 1, "hidden_size": 16, "num_heads": 2, "intermediate_size": 24})
    rep = compress(teacher_dir, labelled, r, tmp_path / "out", latency_runs=0)
    general = rep["stages"][0]
    assert general["teacher"] == str(hf_encoder_dir) and general["train_examples"] == 30
    assert set(general["losses"]) == {"emb", "hid", "att", "loss"} and general["layer_map"] == [[0, 1]]
