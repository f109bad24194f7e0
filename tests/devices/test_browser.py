"""The browser device: bench page round trip in headless Chromium, same methodology, teacher alongside."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgebert.devices.base import DeviceTimeout, RunnerCrashed
from edgebert.devices.bench import run_bench
from edgebert.devices.browser import to_result
from edgebert.devices.settings import BenchSettings
from edgebert.errors import EdgebertError



def test_browser_bench_round_trip_returns_sane_numbers(browser_bundles, need_browser, tmp_path):
    """ONNX and TFLite bundles (each its own fp32 teacher) measured one after the other at one URL."""
    bundles = [browser_bundles["onnx"], browser_bundles["tflite"]]
    rep = run_bench(bundles, "browser:chromium", BenchSettings(runs=12, min_seconds=0.2, warmup=2, timeout=240),
                    tmp_path / "bench", teachers=bundles)
    assert rep.complete
    assert [m.target for m in rep.measurements] == ["onnx", "tflite"]  # each bundle is its own teacher: once
    for m in rep.measurements:
        r, lat = m.result, m.result["latency_ms"]
        assert r["runs"] >= 12 and r["warmup_runs"] == 2
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] and lat["std"] >= 0
        assert r["load_ms"] > 0 and r["first_inference_ms"] > 0
        assert r["peak_rss_mb"] is None or r["peak_rss_mb"] > 0  # the JS heap where the browser reports it
        assert m.sanity["checked"] and m.sanity["passed"] and m.sanity["same_input_ids"], m.sanity
        # the page was fed the recorded example's text; its logits are checked against PyTorch's
        assert m.sanity["against"] == "recorded PyTorch reference", m.sanity
        assert r["extra"]["cross_origin_isolated"] is True and "Android" in r["extra"]["user_agent"]
    d = rep.device
    assert d["cross_origin_isolated"] is True and "Android" in d["user_agent"]
    assert {e["engine"] for e in d["engines"].values()} == {"onnxruntime-web", "litert"}
    assert all(e["threads"] >= 1 for e in d["engines"].values())
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "headless Chromium" in md and "cross-origin isolated" in md and "JS heap" in md and "Android" in md
    assert "onnxruntime-web wasm" in md
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["device"]["user_agent"] == d["user_agent"]


def test_nobody_opens_the_page_is_a_one_line_timeout_with_a_partial_report(fake_app, fake_bundle, tmp_path):
    with pytest.raises(DeviceTimeout) as err:
        run_bench([fake_bundle], "browser", BenchSettings(runs=1, timeout=0.5), tmp_path / "bench",
                  teachers=[fake_bundle])
    line = err.value.one_line()
    assert "no browser posted a result within" in line and "partial report in" in line and "\n" not in line
    doc = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert doc["complete"] is False and doc["measurements"][0]["status"] == "failed"


@pytest.mark.parametrize("device,target,teacher_target,expected", [
    ("browser", "executorch", "onnx", "a executorch bundle cannot run in a browser"),
    ("browser", "onnx", "coreml", "a coreml bundle cannot run in a browser"),
    ("browser:safari", "onnx", "onnx", "unknown browser device 'browser:safari'"),
])
def test_bad_browser_bench_input_is_one_line(fake_app, fake_bundle, tmp_path, device, target, teacher_target, expected):
    import shutil

    teacher = shutil.copytree(fake_bundle, tmp_path / "teacher")
    for b, t in ((fake_bundle, target), (teacher, teacher_target)):
        meta = json.loads((b / "metadata.json").read_text())
        (b / "metadata.json").write_text(json.dumps({**meta, "target": t}))
    with pytest.raises(EdgebertError) as err:
        run_bench([fake_bundle], device, BenchSettings(timeout=1), tmp_path / "bench", teachers=[teacher])
    assert expected in err.value.one_line()


def test_chromium_opens_the_bench_url_that_carries_the_results_token(fake_app, fake_bundle, tmp_path, monkeypatch):
    """Only the page edgebert opened may post: the URL it opens has the token, others are refused."""
    import http.client
    from urllib.parse import parse_qs, urlsplit

    from edgebert.demo.server import TOKEN_HEADER
    from edgebert.devices import browser

    seen = {}

    def fake_chromium(url, timeout):
        u = urlsplit(url)
        token = parse_qs(u.query).get("token", [""])[0]

        def post(tok):
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.request("POST", "/api/results", b'{"ok": false, "error": "posted by the page"}', {TOKEN_HEADER: tok})
            return conn.getresponse().status

        seen.update(path=u.path, statuses=(post("forged"), post(token)))

    monkeypatch.setattr(browser, "chromium_missing", lambda: None)
    monkeypatch.setattr(browser, "_open_chromium", fake_chromium)
    with pytest.raises(RunnerCrashed, match="could not run the model: posted by the page"):
        run_bench([fake_bundle], "browser:chromium", BenchSettings(runs=1, timeout=5), tmp_path / "bench",
                  teachers=[fake_bundle])
    assert seen == {"path": "/bench.html", "statuses": (403, 200)}


POSTED = {"ok": True, "engine": "onnxruntime-web", "backend": "wasm", "threads": 4, "user_agent": "UA",
          "cross_origin_isolated": True, "load_ms": 12.5, "first_ms": 3.0, "times_ms": [2.0, 1.0, 4.0, 3.0],
          "logits": [0.5, -0.5], "input_ids": [101, 102], "js_heap_bytes": 3 * 2**20}


def test_posted_samples_get_the_harness_statistics():
    r = to_result(POSTED, "onnx", warmup=5)
    a = np.array(POSTED["times_ms"])
    assert r.latency_ms["p50"] == pytest.approx(np.percentile(a, 50)) and r.latency_ms["max"] == 4.0
    assert r.latency_ms["p90"] == pytest.approx(np.percentile(a, 90)) and r.latency_ms["std"] == pytest.approx(a.std())
    assert (r.runs, r.warmup_runs, r.seconds, r.load_ms, r.first_inference_ms) == (4, 5, 0.01, 12.5, 3.0)
    assert r.peak_rss_mb == 3.0 and "JS heap" in r.extra["memory_note"] and r.outputs == [0.5, -0.5]
    assert to_result({**POSTED, "js_heap_bytes": None}, "onnx", 0).peak_rss_mb is None


@pytest.mark.parametrize("doc,expected", [
    ({"ok": False, "error": "wasm failed to compile", "user_agent": "UA"}, "could not run the model: wasm failed"),
    ({**POSTED, "times_ms": []}, "no valid timed runs"),
    ({**POSTED, "times_ms": [1.0, -2.0]}, "no valid timed runs"),
    ({**POSTED, "load_ms": None}, "malformed result"),
    ({**POSTED, "times_ms": ["x"]}, "malformed result"),
])
def test_bad_posts_are_runner_crashes(doc, expected):
    with pytest.raises(RunnerCrashed, match=expected):
        to_result(doc, "onnx", 0)


def test_devices_lists_the_browser_kinds(fake_app, monkeypatch):
    from typer.testing import CliRunner

    from edgebert.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("EDGEBERT_CHROMIUM", "/nonexistent/chromium")
    res = CliRunner().invoke(app, ["devices"])
    assert res.exit_code == 0, res.output
    rows = {line.split("│")[1].strip(): line for line in res.stdout.splitlines() if line.count("│") >= 3}
    assert {"host", "browser", "browser:lan", "browser:chromium"} <= set(rows)
    assert "unavailable: /nonexistent/chromium is missing" in rows["browser:chromium"]
