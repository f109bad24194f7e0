"""Opt-in (``make test-aarch64``): the native .pte runner cross-built for aarch64 and run under
qemu-user on tiny programs. Outputs must match executorch.runtime on x86; timings under emulation
mean nothing, so nothing here looks at them beyond their shape."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from edgebert.devices import RunnerResult
from edgebert.devices.native import NativeRunner, emulator_prefix, native_runner

pytestmark = pytest.mark.skipif(not os.environ.get("EDGEBERT_AARCH64_SITE_PACKAGES"),
                                reason="opt-in: run `make test-aarch64` (aarch64 executorch libs + qemu-user)")

import adb_fixtures as _fx


@pytest.fixture(scope="module")
def arm_runner():
    _fx.need("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu")
    _fx.need("qemu-aarch64-static", "qemu-user-static")
    return native_runner("aarch64", with_libs=True)


def test_cross_build_is_aarch64_and_carries_its_libs(arm_runner):
    assert arm_runner.abi == "aarch64"
    head = subprocess.run(["readelf", "-h", str(arm_runner.binary)], capture_output=True, text=True).stdout
    assert "AArch64" in head
    names = {p.name for p in arm_runner.libs}
    assert "libexecutorch.so" in names and "libexecutorch_backend_xnnpack.so" in names
    assert not any(n.startswith("libtorch") or "python" in n for n in names)  # standalone: nothing else travels


@pytest.mark.parametrize("name", ["portable", "xnnpack", "xnnpack_int8"])
def test_runs_under_qemu_with_x86_logits(arm_runner, tiny_ptes, tmp_path, name):
    """Libraries pushed next to the binary, found through LD_LIBRARY_PATH: the board layout."""
    from executorch.runtime import Runtime

    paths, batches = tiny_ptes
    board = tmp_path / "board"
    board.mkdir()
    for f in arm_runner.push_files():
        shutil.copy2(f, board / f.name)
    batch = batches[2]
    argv = arm_runner.env_prefix(str(board)) + emulator_prefix("aarch64") + NativeRunner.argv(
        str(board / "pte_runner"), str(paths[name]), *(batch[k][0].tolist() for k in
                                                       ("input_ids", "attention_mask", "token_type_ids")),
        warmup=1, runs=3, min_seconds=0.0, threads=1)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = RunnerResult.parse(proc.stdout)
    method = Runtime.get().load_program(str(paths[name])).load_method("forward")
    ref = method.execute([batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")])[0].numpy()
    diff = np.abs(np.asarray(res.outputs, dtype=np.float32) - ref).max()
    # fp32 matches x86 to float rounding. XNNPACK's int8 kernels differ per architecture (ARM NEON
    # requantisation vs x86): measured 0.016 on this tiny model's ~0.01 logits, x86 1.4.1 == x86 1.5.1.
    assert diff <= (0.05 if name.endswith("int8") else 1e-5), diff
    assert res.runtime.startswith("executorch 1.5") and ("XNNPACK" in res.runtime) == name.startswith("xnnpack")
    assert res.runs >= 3
