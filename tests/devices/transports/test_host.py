"""The host transport for real: push/run/pull/cleanup, timeouts, and every runnable format."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import pytest

from edgebert.devices import DeviceTimeout, get_transport
from edgebert.devices.bench import run_bench
from edgebert.devices.transports.host import HostTransport


def test_describe_push_run_pull_cleanup(tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hi\n")
    with get_transport("host") as t:
        assert isinstance(t, HostTransport)
        info = t.describe()
        assert info.kind == "host" and info.abi == platform.machine() and info.cores == os.cpu_count()
        assert info.model != "unknown CPU" and "host" in info.where and not info.emulated
        work = t.workdir()
        t.push(src, f"{work}/hello.txt")
        res = t.run(["sh", "-c", f"cat {work}/hello.txt; echo err >&2; exit 3"], timeout=30)
        assert (res.returncode, res.stdout, res.stderr) == (3, "hi\n", "err\n")
        t.pull(f"{work}/hello.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "hi\n"
    assert not Path(work).exists() and t.leftover is None


def test_timeout_kills_the_command_and_says_so():
    t = HostTransport()
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="ran past 1 s"):
        t.run(["sh", "-c", "sleep 30"], timeout=1)
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("bundle,fmt", [("onnx-fp32", "onnx"), ("tflite-fp32", "tflite"),
                                        ("executorch-fp32", "pte")])
def test_bench_every_runnable_format_on_host(tiny_bundles, quick, tmp_path, bundle, fmt, monkeypatch):
    """The bundle is its own fp32 teacher, so it is measured once, as the teacher."""
    workdirs = []
    real = HostTransport.workdir
    monkeypatch.setattr(HostTransport, "workdir", lambda self: workdirs.append(real(self)) or workdirs[-1])
    report = run_bench([tiny_bundles[bundle]], "host", quick, tmp_path, progress_enabled=False)
    assert report.complete and report.error is None
    (m,) = report.measurements
    assert (m.role, m.format, m.status, m.runner) == ("teacher", fmt, "measured", "python")
    r = m.result
    assert r["runs"] >= quick.runs and r["warmup_runs"] == 1 and r["threads"] == 1
    lat = r["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert r["load_ms"] > 0 and r["first_inference_ms"] > 0 and r["peak_rss_mb"] > 10
    assert len(r["outputs"]) == 2 and m.sanity["checked"] and m.sanity["passed"], m.sanity
    assert m.sanity["max_abs_diff"] < 1e-5  # same runtime, same input: same logits
    assert m.accuracy["accuracy"] is not None and m.size_bytes == (tiny_bundles[bundle] / f"model.{'pte' if fmt == 'pte' else fmt}").stat().st_size
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["complete"] and doc["device"]["kind"] == "host" and doc["measurements"][0]["result"]["runtime"]
    assert "not phone numbers" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert workdirs and not any(Path(w).exists() for w in workdirs)  # device left clean


def test_native_pte_runner_through_the_hook(tiny_bundles, quick, tmp_path):
    """--runner native uses edgebert.devices.native's binary with the same command line."""
    quick.runner = "native"
    report = run_bench([tiny_bundles["executorch-fp32"]], "host", quick, tmp_path, progress_enabled=False)
    (m,) = report.measurements
    assert m.runner == "native" and m.status == "measured" and m.sanity["passed"], m.sanity
