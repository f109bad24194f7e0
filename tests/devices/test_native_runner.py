"""The native C++ .pte runner: built with cmake + g++ against the executorch wheel's runtime,
run on tiny programs, and compared with ``executorch.runtime`` in this process."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from edgebert.devices import RunnerCrashed, RunnerMissing, RunnerResult
from edgebert.devices.native import NativeRunner, native_runner


TOL = 1e-5


def _reference(path, batch, int32=False) -> np.ndarray:
    import executorch.kernels.quantized  # noqa: F401  the int8 program's word table needs these kernels
    import torch
    from executorch.runtime import Runtime

    dtype = torch.int32 if int32 else torch.int64
    method = Runtime.get().load_program(str(path)).load_method("forward")
    ins = [batch[k].to(dtype) for k in ("input_ids", "attention_mask", "token_type_ids")]
    return method.execute(ins)[0].detach().numpy()


def _argv(binary, model, batch, **kw) -> list[str]:
    return NativeRunner.argv(str(binary), str(model), *(batch[k][0].tolist() for k in
                                                        ("input_ids", "attention_mask", "token_type_ids")), **kw)


def test_build_is_cached(pte_runner_build):
    again_t0 = time.monotonic()
    again = native_runner()
    assert again.binary == pte_runner_build.binary and time.monotonic() - again_t0 < 2
    assert "1.4.1" in pte_runner_build.binary.parent.name and pte_runner_build.abi in ("x86_64", "aarch64")
    libs = {p.name for p in native_runner(with_libs=True).libs}
    assert any(n.startswith("_portable_lib") for n in libs) and "libtorch_cpu.so" in libs
    assert all(p.is_file() for p in native_runner(with_libs=True).libs)


@pytest.mark.parametrize("name", ["portable", "xnnpack", "xnnpack_int8", "int32"])
def test_runner_matches_executorch_runtime(pte_runner_build, tiny_ptes, name):
    paths, batches = tiny_ptes
    batch = batches[3]
    proc = subprocess.run(_argv(pte_runner_build.binary, paths[name], batch, warmup=2, runs=7, min_seconds=0.05,
                                threads=1), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = RunnerResult.parse(proc.stdout)
    ref = _reference(paths[name], batch, int32=name == "int32")
    got = np.asarray(res.outputs, dtype=np.float32)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= TOL
    assert res.format == "pte" and res.runtime.startswith("executorch 1.4.1 native")
    assert ("XNNPACK" in res.runtime) == name.startswith("xnnpack") and res.extra["xnnpack"] == name.startswith("xnnpack")
    assert res.threads == 1 and res.warmup_runs == 2 and res.runs >= 7 and res.seconds >= 0.05
    lat = res.latency_ms
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] and lat["std"] >= 0
    assert lat["min"] <= lat["mean"] <= lat["max"] and res.load_ms > 0 and res.first_inference_ms > 0
    assert res.peak_rss_mb >= res.extra["rss_before_load_mb"] > 0
    assert res.peak_rss_mb < 400  # its own peak (libtorch included), not this 1+ GB pytest process's


def test_min_seconds_extends_runs(pte_runner_build, tiny_ptes):
    paths, batches = tiny_ptes
    proc = subprocess.run(_argv(pte_runner_build.binary, paths["xnnpack"], batches[0], warmup=0, runs=1,
                                min_seconds=0.3), capture_output=True, text=True, timeout=120)
    res = RunnerResult.parse(proc.stdout)
    assert res.seconds >= 0.3 and res.runs > 1 and res.warmup_runs == 0


def test_bad_inputs_are_one_line_errors(pte_runner_build, tiny_ptes, tmp_path):
    paths, batches = tiny_ptes
    missing = subprocess.run(_argv(pte_runner_build.binary, tmp_path / "nope.pte", batches[0]),
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "pte_runner: cannot open model" in missing.stderr
    with pytest.raises(RunnerCrashed):
        RunnerResult.parse(missing.stdout)
    (tmp_path / "junk.pte").write_bytes(b"not a program" * 10)
    junk = subprocess.run(_argv(pte_runner_build.binary, tmp_path / "junk.pte", batches[0]), capture_output=True,
                          text=True, timeout=60)
    assert junk.returncode != 0 and "not a valid .pte program" in junk.stderr
    argv = _argv(pte_runner_build.binary, paths["portable"], batches[0])
    argv[argv.index("--input-ids") + 1] = "1,2,x"
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "not an integer in --input-ids: x" in bad.stderr


def test_missing_toolchain_is_runner_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no cmake, no g++
    with pytest.raises(RunnerMissing) as err:
        native_runner()
    assert "apt-get install" in err.value.one_line() and "\n" not in err.value.one_line()
    with pytest.raises(RunnerMissing) as err:
        native_runner("arm64-v8a", android=True)
    assert "NDK" in err.value.one_line()


def test_runner_over_adb(adbd, pte_runner_build, tiny_ptes):
    """Push the runner and a program over adb to the protocol test server, run, read JSON back."""
    from edgebert.devices.transports.adb import AdbTransport

    paths, batches = tiny_ptes
    batch = batches[5]
    with AdbTransport(adbd.serial) as dev:
        wd = dev.workdir()
        for f in pte_runner_build.push_files():
            dev.push(f, f"{wd}/{f.name}")
        dev.push(paths["xnnpack_int8"], f"{wd}/model.pte")
        argv = pte_runner_build.env_prefix(wd) + _argv(f"{wd}/pte_runner", f"{wd}/model.pte", batch, warmup=1,
                                                       runs=5, min_seconds=0.05, threads=1)
        res = dev.run(argv, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
    out = RunnerResult.parse(res.stdout)
    ref = _reference(paths["xnnpack_int8"], batch)
    assert np.abs(np.asarray(out.outputs, dtype=np.float32) - ref).max() <= TOL
    assert "XNNPACK" in out.runtime and out.runs >= 5
