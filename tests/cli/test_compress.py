"""`edgebert compress` / `edgebert recipes` through typer's runner."""

import json

import pytest
from typer.testing import CliRunner

from builders import write_sentiment_csv
from edgebert.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    return write_sentiment_csv(tmp_path_factory.mktemp("cdata") / "sentiment.csv", 120, seed=3)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_compress_command_writes_student_and_report(teacher_dir, data_csv, tmp_path):
    rec = tmp_path / "r.yaml"
    rec.write_text("max_seq_len: 16\nbatch_size: 16\nstudent: {init: teacher_layers, layers: [1, 3]}\n"
                   "stages:\n  - {type: distill, phase: intermediate}\n  - {type: distill, phase: prediction}\n")
    res = invoke("compress", "--teacher", teacher_dir, "--data", data_csv, "--recipe", rec, "--out", tmp_path / "s",
                 "--max-steps", 2, "--latency-runs", 1, "--max-train-examples", 40)
    assert res.exit_code == 0, res.output
    assert "compression result" in res.stdout and "report written" in res.stdout
    rep = json.loads((tmp_path / "s" / "compress_report.json").read_text())
    assert rep["data"]["train_used"] == 40 and [s["steps"] for s in rep["stages"]] == [2, 2]
    assert rep["student"]["kept_layers"] == [1, 3]


def test_bad_recipe_is_one_line_exit_2(teacher_dir, data_csv, tmp_path):
    rec = tmp_path / "bad.yaml"
    rec.write_text("stages:\n  - type: distill\n    temprature: 2\n")
    res = invoke("compress", "--teacher", teacher_dir, "--data", data_csv, "--recipe", rec, "--out", tmp_path / "s")
    assert res.exit_code == 2
    assert "recipe stage 1 (distill): unknown key 'temprature'" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_missing_data_for_custom_teacher_and_bad_numbers(teacher_dir, tmp_path):
    res = invoke("compress", "--teacher", teacher_dir, "--out", tmp_path / "s", "--recipe", "triple")
    assert res.exit_code == 2 and "no labelled data given" in res.output
    res = invoke("compress", "--teacher", teacher_dir, "--out", tmp_path / "s", "--max-steps", 0)
    assert res.exit_code == 2 and "--max-steps must be positive" in res.output
    res = invoke("compress", "--out", tmp_path / "s", "--recipe", "nope")
    assert res.exit_code == 2 and "neither a file nor a shipped recipe" in res.output


def test_recipes_lists_shipped():
    res = invoke("recipes")
    assert res.exit_code == 0
    for name in ("tinybert-4l", "triple", "heads-50"):
        assert name in res.stdout
    assert "compress" in invoke("--help").stdout
