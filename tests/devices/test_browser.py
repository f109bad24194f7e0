"""The browser device: bench page round trip in headless Chromium, same methodology, teacher alongside."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_demo_conftest", Path(__file__).parents[1] / "demo" / "conftest.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)
need_browser, tiny_bundles = demo.need_browser, demo.tiny_bundles


def test_browser_bench_round_trip_returns_sane_numbers(tiny_bundles, need_browser, tmp_path):
    from edgebert.devices.bench import run_bench
    from edgebert.devices.settings import BenchSettings

    b = tiny_bundles["onnx"]
    rep = run_bench([b], "browser:chromium", BenchSettings(runs=12, min_seconds=0.2, warmup=2, timeout=240),
                    tmp_path / "bench", teachers=[b])
    assert rep.complete
    (m,) = rep.measurements  # the bundle is its own fp32 teacher: measured once
    r = m.result
    assert r["runs"] >= 12 and 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p90"] <= r["latency_ms"]["max"]
    assert r["load_ms"] > 0 and r["first_inference_ms"] > 0
    assert m.sanity["checked"] and m.sanity["passed"]
    assert rep.device["cross_origin_isolated"] is True and "Android" in rep.device["user_agent"]
    assert "browser" in (tmp_path / "bench" / "bench.md").read_text()


def test_browser_nobody_opens_the_page_is_a_one_line_timeout(tiny_bundles, need_browser, tmp_path):
    from edgebert.devices.base import DeviceTimeout
    from edgebert.devices.bench import run_bench
    from edgebert.devices.settings import BenchSettings

    b = tiny_bundles["onnx"]
    with pytest.raises(DeviceTimeout) as err:
        run_bench([b], "browser", BenchSettings(runs=1, timeout=1.0), tmp_path / "bench", teachers=[b])
    assert "no browser posted a result" in err.value.one_line()
    assert (tmp_path / "bench" / "bench.json").exists()  # the partial report is kept
