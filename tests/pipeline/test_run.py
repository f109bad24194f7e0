"""`edgebert run` end to end on a tiny teacher: every step, the report, and content-hash resume."""

from __future__ import annotations

import json

import pytest
import yaml

from edgebert.pipeline.run import run_pipeline
from edgebert.pipeline.spec import parse_run_spec

RECIPE = {"name": "tiny", "batch_size": 16, "max_seq_len": 32,
          "student": {"init": "teacher_layers", "layers": [0, 3]},
          "stages": [{"type": "distill", "phase": "prediction", "epochs": 1, "lr": 1.0e-3}, {"type": "trim_vocab"}]}


def _spec(teacher, data, **over):
    doc = {"name": "t", "teacher": str(teacher), "data": str(data),
           "compress": {"recipe": RECIPE, "max_steps": 4},
           "export": {"targets": ["onnx"], "eval_limit": 16, "calib_size": 8},
           "bench": {"devices": ["host"], "runs": 3, "min_seconds": 0.0, "warmup": 1}}
    for k, v in over.items():
        doc[k] = {**doc.get(k, {}), **v} if isinstance(v, dict) else v
    return parse_run_spec(doc, "test")


@pytest.fixture(scope="module")
def first_run(teacher_dir, run_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    return out, run_pipeline(_spec(teacher_dir, run_data), out)


def test_run_writes_every_step_and_a_complete_report(first_run):
    out, res = first_run
    assert res.skipped == [] and len(res.ran) == 4  # compress, 2 exports, bench
    rep = res.report_dir
    for name in ("report.md", "report.html", "report.json", "accuracy_vs_latency_host.png", "accuracy_vs_size.png"):
        assert (rep / name).stat().st_size > 0, name
    doc = json.loads((rep / "report.json").read_text())
    arts = {a["name"]: a for a in doc["artifacts"]}
    assert set(arts) == {"teacher onnx fp32", "student onnx int8-dynamic"}
    s, t = arts["student onnx int8-dynamic"], arts["teacher onnx fp32"]
    for a in (s, t):
        assert a["status"] == "passed" and 0 <= a["accuracy"] <= 1 and a["size_bytes"] > 0
        assert a["latency"]["host"]["p50_ms"] > 0 and a["latency"]["host"]["runs"] >= 3
        assert a["runs_as"]
    assert s["vs_teacher"]["size_ratio"] == pytest.approx(t["size_bytes"] / s["size_bytes"])
    assert s["vs_teacher"]["speedup_p50"]["host"] == pytest.approx(
        t["latency"]["host"]["p50_ms"] / s["latency"]["host"]["p50_ms"])
    assert doc["devices"]["host"]["where"].startswith("host")
    # ONNX takes each sentence at its own length: timed at real lengths too, compared like for like
    real = {k: a["latency"]["host"]["p50_ms_real_lengths"] for k, a in (("s", s), ("t", t))}
    assert s["vs_teacher"]["speedup_p50_real_lengths"]["host"] == pytest.approx(real["t"] / real["s"])
    assert s["latency"]["host"]["real_lengths"]["max"] <= doc["compression"]["data"]["max_seq_len"]
    acc = s["size_accounting"]
    assert acc["artifact_bytes"] == s["size_bytes"] and acc["int8_weight_bytes"] > 0
    assert set(doc["pareto"]["size"]) <= set(arts) and doc["pareto"]["size"]
    md = (rep / "report.md").read_text()
    assert "| student onnx int8-dynamic |" in md and "Pareto front" in md and "host-CPU numbers" in md
    assert "Where the bytes go" in md and "p50 ms real lengths" in md
    trim = doc["compression"]["vocab_trim"]
    assert "Vocabulary trimming: " in md and trim["vocab_after"] <= trim["vocab_before"]
    # the student's bundle carries the trimmed vocabulary its embedding table was remapped to
    vocab = (out / "bundles" / "student" / "onnx-int8-dynamic" / "vocab.txt").read_text().splitlines()
    assert len(vocab) == trim["vocab_after"]
    html = (rep / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html


def test_rerun_with_same_inputs_skips_every_step(first_run, teacher_dir, run_data):
    out, first = first_run
    again = run_pipeline(_spec(teacher_dir, run_data), out)
    assert again.ran == [] and len(again.skipped) == 4
    assert json.loads((again.report_dir / "report.json").read_text())["artifacts"] == first.report["artifacts"]


def test_changing_bench_settings_reruns_only_the_bench(first_run, teacher_dir, run_data):
    out, _ = first_run
    res = run_pipeline(_spec(teacher_dir, run_data, bench={"runs": 4}), out)
    assert res.ran == ["bench on host"]


def test_interrupted_run_resumes_at_the_step_that_did_not_finish(teacher_dir, run_data, tmp_path, monkeypatch):
    import edgebert.exporters.export as ep

    real = ep.export_model
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # the student's export dies mid-run
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ep, "export_model", flaky)
    spec = _spec(teacher_dir, run_data, bench={"devices": []})
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(spec, tmp_path / "r")
    res = run_pipeline(spec, tmp_path / "r")
    assert res.skipped == ["compress", "export teacher onnx (fp32)"]
    assert res.ran == ["export student onnx (int8-dynamic)"]
    assert "Artifacts (not benchmarked)" in (res.report_dir / "report.md").read_text()


def test_cli_run_bad_recipe_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from edgebert.cli import app

    bad = tmp_path / "r.yaml"
    bad.write_text(yaml.safe_dump({"export": {"targets": ["onnx"], "student_precision": {"onnx": "int4"}}}))
    res = CliRunner().invoke(app, ["run", str(bad)])
    assert res.exit_code == 2
    assert "unknown precision 'int4'" in res.output
    assert "Traceback" not in res.output


def test_cli_run_missing_teacher_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from edgebert.cli import app

    res = CliRunner().invoke(app, ["run", "--teacher", str(tmp_path / "nope"), "--data", str(tmp_path / "d.csv")])
    assert res.exit_code == 2
    assert "does not exist" in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_readme_command_on_a_checkpoint_saved_by_transformers(run_data, tmp_path):
    """The README's `edgebert run --teacher ... --recipe tinybert-4l --targets executorch,tflite,onnx`
    on a folder saved by the pinned transformers (tokenizer.json, no vocab.txt), through the real
    program; only the training and timing sizes are cut down."""
    import subprocess
    import sys
    from pathlib import Path

    from builders import make_hf_bert

    teacher = make_hf_bert(tmp_path / "my-finetuned-bert", layers=6, id2label={0: "neg", 1: "pos"})
    assert not (teacher / "vocab.txt").exists() and (teacher / "tokenizer.json").exists()
    out = tmp_path / "runs" / "mine"
    exe = str(Path(sys.executable).with_name("edgebert"))
    res = subprocess.run([exe, "run", "--teacher", str(teacher), "--data", str(run_data), "--recipe", "tinybert-4l",
                          "--targets", "executorch,tflite,onnx", "--device", "host", "--out", str(out),
                          "--max-steps", "2", "--max-train-examples", "40", "--eval-limit", "16", "--runs", "3"],
                         capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "report" / "report.json").read_text())
    names = {a["name"]: a for a in doc["artifacts"]}
    for target, precision in (("executorch", "int8"), ("tflite", "int8"), ("onnx", "int8-dynamic")):
        s = names[f"student {target} {precision}"]
        assert s["status"] == "passed" and s["latency"]["host"]["p50_ms"] > 0
        assert names[f"teacher {target} fp32"]["status"] == "passed"
    for bundle in (out / "bundles" / "student").iterdir():
        if bundle.is_dir():
            vocab = (bundle / "vocab.txt").read_text().splitlines()  # derived from tokenizer.json by edgebert
            assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
