"""Step records of `edgebert run` (edgebert.pipeline.steps).

A re-run skips a step only when nothing it depends on changed and what it produced is still
there; skipping on a stale record ships a bundle of the old model, and skipping with a
deleted output breaks every later step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebert.pipeline.steps import StepLog, fingerprint


@pytest.fixture
def log(tmp_path) -> StepLog:
    return StepLog(tmp_path / "run")


@pytest.fixture
def outputs(tmp_path) -> list[Path]:
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "model.safetensors").write_bytes(b"w")
    (tmp_path / "report.json").write_text("{}")
    return [tmp_path / "student", tmp_path / "report.json"]


def test_a_finished_step_is_found_with_the_same_fingerprint(log, outputs):
    fp = fingerprint({"recipe": "tinybert-4l", "seed": 0}, "teacher-sha")
    assert log.done("compress", fp) is None
    log.finish("compress", fp, {"accuracy": 0.81}, outputs, 12.34)
    rec = log.done("compress", fp)
    assert rec["outputs"] == {"accuracy": 0.81} and rec["seconds"] == 12.3
    assert rec["paths"] == [str(p) for p in outputs]
    assert log.done("export", fp) is None  # records are per step


def test_a_changed_input_means_the_step_runs_again(log, outputs):
    log.finish("compress", fingerprint({"seed": 0}, "teacher-sha"), {}, outputs, 1.0)
    assert log.done("compress", fingerprint({"seed": 1}, "teacher-sha")) is None
    assert log.done("compress", fingerprint({"seed": 0}, "other-teacher")) is None
    assert log.done("compress", fingerprint({"seed": 0}, "teacher-sha")) is not None


@pytest.mark.parametrize("gone", [0, 1])
def test_a_deleted_output_means_the_step_runs_again(log, outputs, gone):
    fp = fingerprint("x")
    log.finish("compress", fp, {}, outputs, 1.0)
    victim = outputs[gone]
    if victim.is_dir():
        (victim / "model.safetensors").unlink()
        victim.rmdir()
    else:
        victim.unlink()
    assert log.done("compress", fp) is None


def test_a_damaged_record_means_the_step_runs_again(log, outputs):
    fp = fingerprint("x")
    log.finish("compress", fp, {}, outputs, 1.0)
    (log.run_dir / "steps" / "compress.json").write_text('{"step": "compress", "finger')
    assert log.done("compress", fp) is None


def test_fingerprint_sees_every_part_but_not_key_order():
    assert fingerprint({"a": 1, "b": [1, 2]}, "t") == fingerprint({"b": [1, 2], "a": 1}, "t")
    base = fingerprint({"a": 1, "b": [1, 2]}, "t")
    for other in (fingerprint({"a": 1, "b": [2, 1]}, "t"), fingerprint({"a": 1, "b": [1, 2]}, "u"),
                  fingerprint({"a": 1, "b": [1, 2]}), fingerprint({"a": "1", "b": [1, 2]}, "t")):
        assert other != base
    assert fingerprint("ab", "c") != fingerprint("a", "bc")


def test_a_step_written_by_another_edgebert_version_is_redone(log, outputs, monkeypatch):
    import edgebert

    log.finish("export", fingerprint({"target": "onnx"}, "student-sha"), {}, outputs, 1.0)
    assert log.done("export", fingerprint({"target": "onnx"}, "student-sha")) is not None
    monkeypatch.setattr(edgebert, "__version__", edgebert.__version__ + ".post1")
    assert log.done("export", fingerprint({"target": "onnx"}, "student-sha")) is None
