"""Parse TFLite's official ``benchmark_model`` output into a RunnerResult.

``benchmark_model`` is what Android users run for .tflite (edgebert cannot build it: it
needs Bazel + the NDK). Its output is prose, logged with ``INFO: `` (or logcat's
``I tflite  : ``) prefixes; the lines that matter are::

    count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798 p5=... median=... p95=...
    Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
    Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
    Overall peak memory footprint (MB) via periodic monitoring: 52.1

It reports avg/std/min/max and, in newer versions, p5/median/p95 of the timed runs; p90 and
p99 are not printed, so they are left out rather than invented.
"""

from __future__ import annotations

import re

from ..base import RunnerCrashed, RunnerResult

NUM = r"(-?[\d.]+(?:[eE][-+]?\d+)?)"
TIMINGS = re.compile(rf"Inference timings in us: Init: {NUM}, First inference: {NUM}, "
                     rf"Warmup \(avg\): {NUM}, Inference \(avg\): {NUM}")
STAT = re.compile(r"count=(\d+)((?:\s+\w+=" + NUM + r")*)")
MEMORY = re.compile(rf"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                    rf"init={NUM} overall={NUM}")
PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {NUM}")
MODEL_SIZE = re.compile(rf"The input model file size \(MB\): {NUM}")
THREADS = re.compile(r"Num threads: \[(-?\d+)\]")
RUNNING = re.compile(rf"Running benchmark for at least (\d+) iterations and at least {NUM} seconds")


def _stat_lines(text: str) -> list[dict[str, float]]:
    out = []
    for line in text.splitlines():
        m = STAT.search(line)
        if m:
            fields = {"count": float(m.group(1))}
            fields.update({k: float(v) for k, v in re.findall(rf"(\w+)={NUM}", m.group(2))})
            out.append(fields)
    return out


def parse_benchmark_model(text: str, threads: int | None = None) -> RunnerResult:
    """The timed-run statistics line is the last ``count=`` line (the first is the warmup)."""
    m = TIMINGS.search(text)
    if not m:
        errors = [l.strip() for l in text.splitlines() if "ERROR" in l or "Failed" in l or "failed" in l]
        raise RunnerCrashed("benchmark_model printed no 'Inference timings' line",
                            errors[-1][:200] if errors else "check the --graph path and the binary's ABI")
    init_us, first_us, warmup_us, avg_us = (float(x) for x in m.groups())
    stats = _stat_lines(text[:m.start()])
    timed = stats[-1] if stats else {"count": 0.0, "avg": avg_us}
    warm = stats[-2] if len(stats) >= 2 else None
    to_ms = lambda key: timed[key] / 1000.0 if key in timed else None  # noqa: E731
    latency = {"p50": to_ms("median"), "mean": avg_us / 1000.0, "std": to_ms("std"), "min": to_ms("min"),
               "max": to_ms("max"), "p5": to_ms("p5"), "p95": to_ms("p95")}
    mem = MEMORY.search(text)
    peak = PEAK.search(text)
    size = MODEL_SIZE.search(text)
    thr = THREADS.search(text)
    runs_planned = RUNNING.findall(text)
    count = int(timed["count"])
    return RunnerResult(
        format="tflite", runtime="TFLite benchmark_model", threads=int(thr.group(1)) if thr else threads,
        load_ms=init_us / 1000.0, first_inference_ms=first_us / 1000.0,
        warmup_runs=int(warm["count"]) if warm else 0, runs=count,
        seconds=count * avg_us / 1e6, latency_ms={k: v for k, v in latency.items() if v is not None},
        peak_rss_mb=float(peak.group(1)) if peak else (float(mem.group(2)) if mem else None),
        outputs=[],
        extra={"runner": "benchmark_model", "warmup_avg_ms": warmup_us / 1000.0,
               "memory_init_mb": float(mem.group(1)) if mem else None,
               "memory_overall_mb": float(mem.group(2)) if mem else None,
               "model_file_mb": float(size.group(1)) if size else None,
               "planned": [{"min_runs": int(r), "min_seconds": float(s)} for r, s in runs_planned],
               "peak_rss_note": "benchmark_model's own footprint estimate (approximate, says the tool)",
               "percentiles_note": "benchmark_model prints no p90/p99"},
    )
