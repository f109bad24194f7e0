"""Parsing TFLite benchmark_model output as the tool really prints it (old and new versions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebert.devices import RunnerCrashed
from edgebert.devices.runners.benchmark_model import parse_benchmark_model
from edgebert.devices.runners.programs import BenchmarkModelRunner

# A 2.1x-era Android run (logcat-free, INFO: prefixes), with percentiles and periodic memory monitoring.
NEW = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [50]
INFO: Num threads: [4]
INFO: Min warmup runs: [5]
INFO: Graph: [/data/local/tmp/edgebert.x/model.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/edgebert.x/model.tflite
INFO: The input model file size (MB): 90.8734
INFO: Initialized session in 48.113ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=12 first=52310 curr=39802 min=39001 max=52310 avg=41544.1 std=3511 p5=39001 median=40410 p95=52310

INFO: Running benchmark for at least 50 iterations and at least 2 seconds but terminate if exceeding 150 seconds.
INFO: count=51 first=39880 curr=38712 min=37990 max=45120 avg=39311.7 std=1203 p5=38050 median=39102 p95=41877

INFO: Inference timings in us: Init: 48113, First inference: 52310, Warmup (avg): 41544.1, Inference (avg): 39311.7
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=96.4023 overall=118.207
INFO: Overall peak memory footprint (MB) via periodic monitoring: 123.516
INFO: Memory status at the end of exeution:
INFO: - VmRSS              : 121 MB
"""

# An older build (no prefixes, scientific notation, no percentiles, "Peak memory footprint").
OLD = """\
STARTING!
Num threads: [1]
Graph: [/data/local/tmp/model.tflite]
Loaded model /data/local/tmp/model.tflite
Initialized session in 17.187ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=1 curr=3512391

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798

Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=4.92969 overall=138.809
"""


def test_new_format_with_percentiles_and_periodic_peak():
    r = parse_benchmark_model(NEW)
    assert (r.format, r.runtime, r.threads, r.runs, r.warmup_runs) == ("tflite", "TFLite benchmark_model", 4, 51, 12)
    assert r.load_ms == pytest.approx(48.113) and r.first_inference_ms == pytest.approx(52.31)
    assert r.latency_ms == pytest.approx({"p50": 39.102, "mean": 39.3117, "std": 1.203, "min": 37.99, "max": 45.12,
                                          "p5": 38.05, "p95": 41.877})
    assert "p90" not in r.latency_ms and "p99" not in r.latency_ms  # not printed, so not invented
    assert r.peak_rss_mb == pytest.approx(123.516) and r.extra["memory_init_mb"] == pytest.approx(96.4023)
    assert r.extra["model_file_mb"] == pytest.approx(90.8734) and r.extra["warmup_avg_ms"] == pytest.approx(41.5441)
    assert r.extra["planned"] == [{"min_runs": 5, "min_seconds": 0.5}, {"min_runs": 50, "min_seconds": 2.0}]
    assert r.seconds == pytest.approx(51 * 0.0393117) and r.outputs == []


def test_old_format_scientific_notation_and_peak_footprint():
    r = parse_benchmark_model(OLD, threads=1)
    assert r.runs == 50 and r.warmup_runs == 1 and r.threads == 1
    assert r.latency_ms["mean"] == pytest.approx(2950.34) and r.latency_ms["max"] == pytest.approx(3189.954)
    assert "p50" not in r.latency_ms  # this version prints no median
    assert r.first_inference_ms == pytest.approx(3512.391) and r.peak_rss_mb == pytest.approx(138.809)


def test_logcat_prefixes_are_fine():
    text = "\n".join(f"11-21 14:00:00.000  1234  1234 I tflite  : {line}" for line in NEW.splitlines())
    assert parse_benchmark_model(text).latency_ms["p50"] == pytest.approx(39.102)


def test_a_failed_run_is_a_crash_with_the_tools_error():
    text = "STARTING!\nERROR: Could not open '/data/local/tmp/nope.tflite'.\nERROR: Benchmarking failed.\n"
    with pytest.raises(RunnerCrashed, match="no 'Inference timings' line") as info:
        parse_benchmark_model(text)
    assert "Benchmarking failed" in info.value.one_line()


def test_command_feeds_the_encoded_sentence_through_raw_files(tiny_bundles, quick, tmp_path):
    """Tensor names come from the artifact; ':' in them is escaped the way the tool expects."""
    import numpy as np

    from edgebert.devices.transports.host import HostTransport

    tool = tmp_path / "benchmark_model"
    tool.write_text("#!/bin/sh\n")
    art = tiny_bundles["tflite-fp32"] / "model.tflite"
    inputs = {"input_ids": np.array([[2, 7, 3, 0]]), "attention_mask": np.array([[1, 1, 1, 0]]),
              "token_type_ids": np.zeros((1, 4), dtype=np.int64)}
    with HostTransport() as t:
        work = t.workdir()
        argv = BenchmarkModelRunner(tool).command(t, work, f"{work}/m.tflite", art, inputs, quick)
        assert argv[:2] == [f"{work}/benchmark_model", f"--graph={work}/m.tflite"]
        assert "--num_runs=3" in argv and "--warmup_runs=1" in argv and "--num_threads=1" in argv
        files = dict(item.rsplit(":", 1) for item in argv[-2].split("=", 1)[1].split(","))
        assert len(files) == 3
        by_name = {Path(f).name: f for f in files.values()}
        ids = np.fromfile(by_name["model-input_ids.raw"], dtype=np.int32)  # LiteRT inputs are int32
        assert ids.tolist() == [2, 7, 3, 0]

