#!/usr/bin/env python3
"""edgebert's on-device benchmark for .onnx, .tflite and .pte (pushed next to the artifact).

Self-contained on purpose: stdlib + numpy + the artifact's runtime (onnxruntime,
ai_edge_litert, executorch), no edgebert import, so it runs on a Raspberry Pi or in Termux
with only the runtime installed. Same command line as the native C++ runner:

    python3 bench_script.py --model model.onnx --input-ids 101,2023,102,0 \
        --attention-mask 1,1,1,0 --token-type-ids 0,0,0,0 --warmup 5 --runs 50 --min-seconds 2 --threads 4

Method (as TFLite's benchmark_model and MLPerf Mobile do): model load, first inference,
warmup runs, then at least --runs runs AND at least --min-seconds; the last stdout line is
one JSON object (edgebert's RunnerResult) with the logits of the last run.
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
RUNTIMES = {".onnx": "onnxruntime", ".tflite": "ai_edge_litert", ".pte": "executorch"}
FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".pte": "pte"}
ET_DTYPES = {3: "int32", 4: "int64", 6: "float32"}  # ExecuTorch ScalarType codes


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version({"ai_edge_litert": "ai-edge-litert"}.get(module, module))
    except Exception:
        return None


def probe() -> dict:
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for mod in ("numpy", "onnxruntime", "ai_edge_litert.interpreter", "executorch.runtime"):
        try:
            importlib.import_module(mod)
            out[mod.split(".")[0]] = _version(mod.split(".")[0]) or "unknown"
        except Exception as exc:  # a missing or broken runtime is reported, not raised
            out[mod.split(".")[0]] = None
            out[mod.split(".")[0] + "_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
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
# each returns (run(feeds) -> logits ndarray, input dtypes by name, runtime description)

def load_onnx(path: str, threads: int | None):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    kinds = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float)": "float32"}
    dtypes = {i.name: kinds.get(i.type, "int64") for i in sess.get_inputs()}
    out_name = sess.get_outputs()[0].name

    def run(feeds):
        return np.asarray(sess.run([out_name], feeds)[0], dtype=np.float32)

    return run, dtypes, f"onnxruntime {ort.__version__} (CPUExecutionProvider)"


def load_tflite(path: str, threads: int | None):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=path, num_threads=threads or None)
    sigs = interp.get_signature_list()
    runner = interp.get_signature_runner("serving_default" if "serving_default" in sigs else next(iter(sigs)))
    dtypes = {n: np.dtype(d["dtype"]).name for n, d in runner.get_input_details().items()}
    outs = runner.get_output_details()
    out_name = "logits" if "logits" in outs else next(iter(outs))
    scale, zero = (outs[out_name].get("quantization") or (0.0, 0))[:2]

    def run(feeds):
        y = runner(**feeds)[out_name]
        if y.dtype in (np.int8, np.uint8) and scale:  # static-int8 models emit int8 logits
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)

    return run, dtypes, f"ai-edge-litert {_version('ai_edge_litert') or ''} (Interpreter)".replace("  ", " ")


def load_pte(path: str, threads: int | None):
    import torch
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    if threads:
        portable_lib._unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(path).load_method("forward")
    meta = method.metadata
    dtypes = {n: ET_DTYPES.get(int(meta.input_tensor_meta(i).dtype()), "int64")
              for i, n in enumerate(INPUT_NAMES[:meta.num_inputs()])}

    def run(feeds):
        out = method.execute([torch.from_numpy(feeds[n]) for n in INPUT_NAMES[:meta.num_inputs()]])
        return out[0].detach().float().numpy()

    return run, dtypes, f"executorch {_version('executorch') or ''} (Python runtime)".replace("  ", " ")


LOADERS = {".onnx": load_onnx, ".tflite": load_tflite, ".pte": load_pte}


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
    if ext not in LOADERS:
        raise SystemExit(f"error: unsupported artifact {args.model} (expected .onnx, .tflite or .pte)")
    rss0 = _rss_mb()
    t = time.perf_counter()
    importlib.import_module({".onnx": "onnxruntime", ".tflite": "ai_edge_litert.interpreter",
                             ".pte": "executorch.runtime"}[ext])
    import_ms = (time.perf_counter() - t) * 1000
    rss_imported = _rss_mb()
    t = time.perf_counter()
    run, dtypes, runtime = LOADERS[ext](args.model, args.threads if args.threads and args.threads > 0 else None)
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
    return {
        "format": FORMATS[ext], "runtime": runtime, "threads": args.threads if args.threads and args.threads > 0 else None,
        "load_ms": load_ms, "first_inference_ms": first_ms, "warmup_runs": args.warmup, "runs": len(samples),
        "seconds": seconds, "latency_ms": stats_ms(samples), "peak_rss_mb": _peak_rss_mb(),
        "outputs": np.asarray(y, dtype=np.float32).reshape(-1).tolist(),
        "extra": {"runner": "python", "python": platform.python_version(), "machine": platform.machine(),
                  "import_ms": import_ms, "rss_before_import_mb": rss0, "rss_before_load_mb": rss_imported,
                  "input_dtypes": dtypes, "peak_rss_note": "whole process: Python, numpy and the runtime included"},
    }


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
