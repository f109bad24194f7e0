"""bench_script.py as it runs on a device: a separate process, no edgebert import, JSON last."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgebert.devices import RunnerResult
from edgebert.devices.runners import SCRIPT

IDS = "2,5,17,22,3,0,0,0,0,0,0,0,0,0,0,0"
MASK = "1,1,1,1,1,0,0,0,0,0,0,0,0,0,0,0"
TYPES = ",".join(["0"] * 16)


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-I", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def _third_party(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return mods - set(sys.stdlib_module_names)


def test_script_and_loaders_import_only_stdlib_numpy_and_their_runtime():
    """They are pushed alone to boards that have no edgebert: each loader needs its own runtime only."""
    from edgebert.devices.runners import loader_files

    assert _third_party(SCRIPT) == {"numpy"}
    own = {"loader_onnx.py": {"onnxruntime"}, "loader_tflite.py": {"ai_edge_litert"},
           "loader_pte.py": {"executorch", "torch"}}
    assert {f.name: _third_party(f) - {"numpy"} for f in loader_files()} == own


def test_probe_lists_runtimes():
    res = _run("--probe")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    assert doc["numpy"] and doc["onnxruntime"] and doc["ai_edge_litert"] and doc["executorch"]


def test_min_seconds_keeps_running_past_runs(tiny_bundles):
    res = _run("--model", str(tiny_bundles["onnx-int8"] / "model.onnx"), "--input-ids", IDS, "--attention-mask", MASK,
               "--token-type-ids", TYPES, "--warmup", "2", "--runs", "2", "--min-seconds", "0.5", "--threads", "1")
    assert res.returncode == 0, res.stderr
    r = RunnerResult.parse(res.stdout)
    assert r.seconds >= 0.5 and r.runs > 2 and r.warmup_runs == 2  # at least N runs AND at least S seconds
    assert r.extra["input_dtypes"] == {"input_ids": "int64", "attention_mask": "int64", "token_type_ids": "int64"}
    assert len(r.outputs) == 2 and r.extra["runner"] == "python"


def test_tflite_inputs_take_the_artifacts_dtype(tiny_bundles):
    res = _run("--model", str(tiny_bundles["tflite-fp32"] / "model.tflite"), "--input-ids", IDS, "--attention-mask",
               MASK, "--token-type-ids", TYPES, "--warmup", "0", "--runs", "1", "--min-seconds", "0")
    r = RunnerResult.parse(res.stdout)
    assert set(r.extra["input_dtypes"].values()) == {"int32"} and r.runs == 1 and r.threads is None


@pytest.mark.parametrize("args,expected", [
    (["--model", "x.onnx"], "missing --input-ids"),
    (["--model", "x.bin", "--input-ids", "1", "--attention-mask", "1", "--token-type-ids", "0"], "unsupported artifact"),
])
def test_bad_invocations_fail_without_a_result_line(args, expected):
    res = _run(*args)
    assert res.returncode != 0 and expected in res.stderr
    with pytest.raises(Exception, match="no result line"):
        RunnerResult.parse(res.stdout)


def test_peak_rss_is_the_runners_own_not_its_parents(tiny_bundles):
    """Linux carries ru_maxrss across fork+exec: a 400 MB parent must not make the runner look 400 MB."""
    parent = (
        "import subprocess, sys\n"
        "big = bytearray(400 * 2**20)\n"
        "big[::4096] = b'\\x01' * len(big[::4096])\n"
        f"res = subprocess.run([sys.executable, {str(SCRIPT)!r}, '--model', {str(tiny_bundles['onnx-fp32'] / 'model.onnx')!r},"
        f" '--input-ids', {IDS!r}, '--attention-mask', {MASK!r}, '--token-type-ids', {TYPES!r}, '--runs', '1',"
        " '--min-seconds', '0'], capture_output=True, text=True)\n"
        "print(res.stdout.strip().splitlines()[-1])\n"
    )
    res = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, timeout=120)
    r = RunnerResult.parse(res.stdout)
    assert 10 < r.peak_rss_mb < 300, r.peak_rss_mb
