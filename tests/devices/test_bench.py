"""Orchestration: runner choice per platform, teacher export, sanity checks, reports."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from edgebert.devices import DeviceInfo, RunnerMissing
from edgebert.devices.bench import run_bench
from edgebert.devices.sanity import sanity
from edgebert.devices.runners import BenchmarkModelRunner, PythonRunner, select_runner
from edgebert.devices.transports.host import HostTransport

ALL = {"numpy": "2", "onnxruntime": "1", "ai_edge_litert": "2", "executorch": "1"}
PHONE = DeviceInfo("adb", "R5CT1234", "Pixel 7", "Android 14 (API 34)", "arm64-v8a", 8)
BOARD = DeviceInfo("ssh", "pi@pi4", "Raspberry Pi 4 Model B", "Debian GNU/Linux 12", "aarch64", 4)
RECORDED = "recorded PyTorch reference"


def test_runner_per_platform_and_format(tmp_path):
    host = HostTransport()
    for fmt in ("onnx", "tflite", "pte"):
        assert isinstance(select_runner(fmt, host, BOARD, ALL), PythonRunner)
    tool = tmp_path / "benchmark_model"
    tool.write_bytes(b"\x7fELF")
    assert isinstance(select_runner("tflite", host, PHONE, None, benchmark_model=tool), BenchmarkModelRunner)
    with pytest.raises(RunnerMissing, match="no .tflite runner for Android") as info:
        select_runner("tflite", host, PHONE, None)
    assert "--benchmark-model" in info.value.one_line()
    with pytest.raises(RunnerMissing, match="no onnx runner for Android"):
        select_runner("onnx", host, PHONE, None)
    with pytest.raises(RunnerMissing, match="Core ML models run only on Apple devices"):
        select_runner("coreml", host, BOARD, ALL)


def test_missing_runtime_on_the_board_says_how_to_install_it():
    probe = dict(ALL, onnxruntime=None, onnxruntime_error="ModuleNotFoundError: No module named 'onnxruntime'")
    with pytest.raises(RunnerMissing, match="cannot run .onnx on pi@pi4: ModuleNotFoundError") as info:
        select_runner("onnx", HostTransport(), BOARD, probe)
    assert "pip install numpy onnxruntime" in info.value.one_line()
    with pytest.raises(RunnerMissing, match="no Python on the device"):
        select_runner("tflite", HostTransport(), BOARD, None)


def test_sanity_tolerance_follows_the_logits_seen():
    """A fraction of the logits' spread: the old floor (1e-3 absolute for fp32, 5e-2 for int8)
    passed errors of several percent, or a wrong output altogether, on logits of a few hundredths."""
    ref = np.array([[0.5, -0.25]], dtype=np.float32)
    assert sanity([0.5, -0.25], ref, "fp32")["passed"]
    assert not sanity([0.5, -0.2], ref, "fp32")["passed"]  # 0.05 off: an fp32 runtime bug
    assert sanity([0.49, -0.23], ref, "int8")["passed"]  # int8 kernels differ across CPUs
    assert not sanity([-0.3, 0.4], ref, "int8")["passed"]  # different class: never fine
    small = np.array([0.02, -0.01])
    assert sanity([0.02, -0.01], small, "fp32")["passed"]
    assert not sanity([0.0205, -0.0105], small, "fp32")["passed"]  # 2% of the spread
    assert not sanity([0.025, -0.015], small, "int8")["passed"]  # 17% of it, beyond int8's slack
    assert sanity([20.01, -20.01], np.array([20.0, -20.0]), "fp32")["passed"]  # 0.01 in 40: rounding
    # with a recorded reference, the spread of all its logits (not of this one example) sets the scale
    assert sanity([0.0205, -0.0105], small, "fp32", spread=4.0)["passed"]
    got = sanity([0.0205, -0.0105], small, "fp32", against=RECORDED, spread=0.03)
    assert not got["passed"] and got["against"] == RECORDED and got["tolerance"] == pytest.approx(3e-5)
    assert sanity([], ref, "fp32") == {"checked": False, "against": "host runtime", "why": "the runner prints no outputs"}


def _copy(bundle, dest):
    shutil.copytree(bundle, dest)
    return dest


def test_host_bench_checks_against_the_recorded_pytorch_logits(tiny_bundles, quick, tmp_path):
    """Without --sentence the device gets reference example 0 and must give its recorded PyTorch
    logits: a reference whose logits disagree with the artifact fails even on the host (which
    comparing the runtime with itself never could); a bundle without reference.json falls
    back to the host runtime and says so."""
    bundle = tiny_bundles["onnx-fp32"]
    ref = json.loads((bundle / "reference.json").read_text())
    wrong = _copy(bundle, tmp_path / "wrong" / "onnx-fp32")
    doc = json.loads((wrong / "reference.json").read_text())
    doc["examples"][0]["logits"] = doc["examples"][0]["logits"][::-1]
    (wrong / "reference.json").write_text(json.dumps(doc))
    meta = json.loads((wrong / "metadata.json").read_text())  # re-pinned: a wrong record, not a tampered one
    meta["reference"]["sha256"] = hashlib.sha256((wrong / "reference.json").read_bytes()).hexdigest()
    (wrong / "metadata.json").write_text(json.dumps(meta))
    legacy = _copy(bundle, tmp_path / "legacy" / "onnx-fp32")
    (legacy / "reference.json").unlink()
    meta = json.loads((legacy / "metadata.json").read_text())
    del meta["reference"]
    (legacy / "metadata.json").write_text(json.dumps(meta))
    report = run_bench([bundle, wrong, legacy], "host", quick, tmp_path / "bench", progress_enabled=False)
    good, bad, old = (m.sanity for m in report.measurements)
    assert good["against"] == bad["against"] == RECORDED and good["passed"] and good["checked"], good
    assert good["expected_logits"] == pytest.approx(ref["examples"][0]["logits"])
    spread = np.ptp([r["logits"] for r in ref["examples"]])
    assert good["tolerance"] == pytest.approx(1e-3 * spread) and good["max_abs_diff"] < 1e-5
    assert bad["checked"] and not bad["passed"] and not bad["argmax_match"], bad
    assert old["against"] == "host runtime" and old["passed"] and "no reference.json" in old["note"], old
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "MISMATCH" in md and "differ from the recorded PyTorch reference" in md


def test_an_explicit_sentence_is_checked_against_the_host_runtime(tiny_bundles, quick, tmp_path):
    quick.sentence = "a dull and tedious film"
    report = run_bench([tiny_bundles["tflite-fp32"]], "host", quick, tmp_path, progress_enabled=False)
    (m,) = report.measurements
    assert m.sanity["against"] == "host runtime" and m.sanity["passed"] and m.sanity["max_abs_diff"] < 1e-6, m.sanity
    ref = json.loads((tiny_bundles["tflite-fp32"] / "reference.json").read_text())
    assert m.sanity["expected_logits"] != pytest.approx(ref["examples"][0]["logits"])  # another input
    assert "note" not in m.sanity


def test_teacher_is_exported_when_not_given(tiny_bundles, quick, tmp_path):
    """An int8 bundle alone: its source checkpoint is the teacher, exported fp32 to ONNX here,
    reused on the next run, and measured by the same runner in the same session."""
    out = tmp_path / "bench"
    report = run_bench([tiny_bundles["onnx-int8"]], "host", quick, out, progress_enabled=False)
    teacher, cand = report.measurements
    assert teacher.role == "teacher" and teacher.precision == "fp32" and teacher.runner == cand.runner == "python"
    assert teacher.bundle.startswith(str(out / "teachers")) and cand.teacher == teacher.name
    for m in (teacher, cand):  # int8 within its tolerance of the recorded PyTorch logits, fp32 within its own
        assert m.sanity["against"] == RECORDED and m.sanity["passed"], m.sanity
    t_meta = json.loads((out / "teachers" / "seq16" / "onnx-fp32" / "metadata.json").read_text())
    c_meta = json.loads((tiny_bundles["onnx-int8"] / "metadata.json").read_text())
    assert t_meta["source_checkpoint"]["sha256"] == c_meta["source_checkpoint"]["sha256"] and t_meta["seq_len"] == 16
    cmp = report.comparison(cand)
    assert cmp["teacher"] == teacher.name and cmp["speedup_p50"] > 0 and cmp["size_ratio"] > 1.0
    assert "accuracy_delta_points" in cmp
    doc = json.loads((out / "bench.json").read_text())
    assert doc["measurements"][1]["vs_teacher"]["size_ratio"] == pytest.approx(cmp["size_ratio"])
    mtime = (out / "teachers" / "seq16" / "onnx-fp32" / "model.onnx").stat().st_mtime
    again = run_bench([tiny_bundles["onnx-int8"]], "host", quick, out, progress_enabled=False)
    assert again.measurements[0].bundle == teacher.bundle  # the exported teacher is reused
    assert (out / "teachers" / "seq16" / "onnx-fp32" / "model.onnx").stat().st_mtime == mtime


def test_a_crashing_runner_keeps_what_was_measured(tiny_bundles, quick, tmp_path, monkeypatch):
    """Break the candidate's artifact on the way to the device: the runtime fails to load it."""
    from edgebert.devices import RunnerCrashed
    from edgebert.devices.transports import host as host_mod

    real_push = host_mod.HostTransport.push

    def push(self, local, remote):
        real_push(self, local, remote)
        if remote.endswith("onnx-int8.onnx"):
            with open(remote, "wb") as fh:
                fh.write(b"not an onnx model")

    monkeypatch.setattr(host_mod.HostTransport, "push", push)
    with pytest.raises(RunnerCrashed, match="python runner crashed on onnx-int8") as info:
        run_bench([tiny_bundles["onnx-int8"]], "host", quick, tmp_path, teachers=[tiny_bundles["onnx-fp32"]],
                  progress_enabled=False)
    assert "\n" not in info.value.one_line() and "partial report" in info.value.one_line()
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert not doc["complete"] and [m["status"] for m in doc["measurements"]] == ["measured", "failed"]
    assert doc["leftover_on_device"] is None


def test_a_dynamic_length_bundle_is_timed_at_its_maximum_and_at_real_lengths(tiny_bundles, quick, tmp_path):
    """ONNX takes each sentence at its own length: the bench times the recorded length sample
    (each example cut to its real tokens) beside the padded maximum; a static-length .tflite
    pads every sentence, so its real-length p50 is its maximum-length p50."""
    onnx, tflite = tiny_bundles["onnx-fp32"], tiny_bundles["tflite-fp32"]
    report = run_bench([onnx, tflite], "host", quick, tmp_path / "bench", progress_enabled=False)
    dyn, static = report.measurements
    sample = json.loads((onnx / "reference.json").read_text())["length_sample"]["examples"]
    real = [sum(ex["attention_mask"]) for ex in sample]  # independent of the code under test
    got = dyn.result["real_lengths"]
    assert got["sentences"] == len(sample) and got["runs"] >= len(sample)
    assert got["lengths"] == {"min": min(real), "p50": float(np.median(real)), "max": max(real)}
    assert max(real) < len(sample[0]["input_ids"])  # the fixture's sentences are shorter than seq_len
    assert dyn.p50_real == got["latency_ms"]["p50"] and not dyn.padded_always
    assert static.result["real_lengths"] is None and static.padded_always and static.p50_real == static.p50
    assert dyn.model_rss_mb is not None and 0 < dyn.model_rss_mb < dyn.result["peak_rss_mb"]
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "p50 ms real lengths" in md and "model RSS MB" in md
