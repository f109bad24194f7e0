#!/usr/bin/env python3
"""edgebert's on-device benchmark for .onnx, .tflite and .pte (pushed next to the artifact).

Self-contained on purpose: stdlib + numpy + the artifact's runtime, no edgebert import, so it
runs on a Raspberry Pi or in Termux with only the runtime installed. How to load each kind of
artifact is a loader_<format>.py pushed next to it. Same command line as the native C++ runner:

    python3 bench_script.py --model model.onnx --input-ids 101,2023,102,0 \
        --attention-mask 1,1,1,0 --token-type-ids 0,0,0,0 --warmup 5 --runs 50 --min-seconds 2 --threads 4

Method (as TFLite's benchmark_model and MLPerf Mobile do): model load, first inference,
warmup runs, then at least --runs runs AND at least --min-seconds; the last stdout line is
one JSON object (edgebert's RunnerResult) with the logits of the last run. ``--inputs-file``
(a dynamic-length artifact) then times real sentences, each at its own length, the same way.
``--probe`` prints which runtimes import here instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def probe() -> dict:
    """Which runtimes import here, keyed by each one's top-level module (numpy included)."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    wanted = [("numpy", "numpy")] + [(m.RUNTIME, m.PIP) for m in loaders().values()]
    for mod, dist in wanted:
        key = mod.split(".")[0]
        try:
            importlib.import_module(mod)
            out[key] = _version(dist) or "unknown"
        except Exception as exc:  # a missing or broken runtime is reported, not raised
            out[key] = None
            out[key + "_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return out


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def _peak_rss_mb() -> float:
    """VmHWM where there is one: Linux's ru_maxrss keeps the high-water mark of the process that
    forked us across execve (a 1 GB harness would make every runner look 1 GB)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


# ---------------------------------------------------------------------------- loaders
# one loader_<format>.py per artifact kind sits next to this script (see devices/runners/)

def loaders() -> dict:
    """Artifact suffix -> loader module, for every loader_*.py next to this script."""
    import glob
    import importlib.util

    found = {}
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "loader_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[module.SUFFIX] = module
    return found


# ---------------------------------------------------------------------------- measuring

def stats_ms(samples: list[float]) -> dict:
    import numpy as np

    a = np.asarray(samples, dtype=np.float64) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "std": float(a.std()),
            "min": float(a.min()), "max": float(a.max())}


def benchmark(args) -> dict:
    import numpy as np

    ext = os.path.splitext(args.model)[1].lower()
    found = loaders()
    if ext not in found:
        raise SystemExit(f"error: unsupported artifact {args.model} (loaders here: {', '.join(sorted(found)) or 'none'})")
    loader = found[ext]
    rss0 = _rss_mb()
    t = time.perf_counter()
    importlib.import_module(loader.RUNTIME)
    import_ms = (time.perf_counter() - t) * 1000
    rss_imported = _rss_mb()
    t = time.perf_counter()
    run, dtypes, runtime = loader.load(args.model, args.threads if args.threads and args.threads > 0 else None,
                                       INPUT_NAMES, _version)
    load_ms = (time.perf_counter() - t) * 1000
    raw = {"input_ids": args.input_ids, "attention_mask": args.attention_mask, "token_type_ids": args.token_type_ids}
    feeds = {n: np.asarray([[int(v) for v in raw[n].split(",")]], dtype=np.dtype(dtypes[n])) for n in dtypes}

    t = time.perf_counter()
    y = run(feeds)
    first_ms = (time.perf_counter() - t) * 1000
    for _ in range(args.warmup):
        run(feeds)
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < args.runs or time.perf_counter() - start < args.min_seconds:
        t = time.perf_counter()
        y = run(feeds)
        samples.append(time.perf_counter() - t)
        if args.max_seconds and time.perf_counter() - start > args.max_seconds and len(samples) >= 1:
            break
    seconds = time.perf_counter() - start
    real = _time_samples(run, args, dtypes) if args.inputs_file else None
    return {
        "format": ext.lstrip("."), "runtime": runtime, "threads": args.threads if args.threads and args.threads > 0 else None,
        "load_ms": load_ms, "first_inference_ms": first_ms, "warmup_runs": args.warmup, "runs": len(samples),
        "seconds": seconds, "latency_ms": stats_ms(samples), "peak_rss_mb": _peak_rss_mb(),
        "outputs": np.asarray(y, dtype=np.float32).reshape(-1).tolist(), "real_lengths": real,
        "extra": {"runner": "python", "python": platform.python_version(), "machine": platform.machine(),
                  "import_ms": import_ms, "rss_before_import_mb": rss0, "rss_before_load_mb": rss_imported,
                  "input_dtypes": dtypes, "peak_rss_note": "whole process: Python, numpy and the runtime included"},
    }


def _time_samples(run, args, dtypes) -> dict:
    """Latency over sentences each at its own length (a dynamic-length artifact's real cost),
    cycled in order so every length is timed as often as the others."""
    import numpy as np

    with open(args.inputs_file) as fh:
        rows = json.load(fh)
    feeds = [{n: np.asarray([row[n]], dtype=np.dtype(dtypes[n])) for n in dtypes} for row in rows]
    for f in feeds[:args.warmup]:
        run(f)
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max(args.runs, len(feeds)) or time.perf_counter() - start < args.min_seconds:
        t = time.perf_counter()
        run(feeds[len(samples) % len(feeds)])
        samples.append(time.perf_counter() - t)
        if args.max_seconds and time.perf_counter() - start > args.max_seconds and len(samples) >= len(feeds):
            break
    lengths = [len(row["input_ids"]) for row in rows]
    return {"latency_ms": stats_ms(samples), "runs": len(samples), "sentences": len(rows),
            "lengths": {"min": min(lengths), "p50": float(np.median(lengths)), "max": max(lengths)}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--input-ids")
    ap.add_argument("--attention-mask")
    ap.add_argument("--token-type-ids")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=0.0, help="stop timed runs after this long (0: no cap)")
    ap.add_argument("--threads", type=int, default=0, help="0: the runtime's default")
    ap.add_argument("--inputs-file", help="JSON list of inputs at their own lengths, timed after the main input")
    ap.add_argument("--probe", action="store_true", help="print which runtimes import here, as JSON")
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    missing = [f"--{n}" for n in ("model", "input_ids", "attention_mask", "token_type_ids") if not getattr(args, n)]
    if missing:
        ap.error(f"missing {', '.join(m.replace('_', '-') for m in missing)}")
    result = benchmark(args)
    sys.stdout.flush()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
