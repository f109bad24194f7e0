"""Export benchmark on the real packaged model and data.

For every target and precision: artifact size, logit parity and task accuracy (from the
export gates, run in the artifact's own runtime), and batch-1 CPU latency on this host
measured through the same runner the gates use. Writes results.json and results.md here.

    .venv/bin/python benchmarks/export/run.py            # the default teacher, all targets
    .venv/bin/python benchmarks/export/run.py --model DIR --data FILE

Host numbers are x86 desktop-CPU numbers, not phone numbers: use `edgebert bench` on a
device for those.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PLAN = [("onnx", "none"), ("onnx", "int8"), ("onnx", "int8-dynamic"), ("tflite", "none"), ("tflite", "int8"),
        ("executorch", "none"), ("executorch", "int8"), ("coreml", "none"), ("coreml", "int8"),
        ("coreml", "int8-weights")]


def latency(run, ids, mask, types, warmup: int, runs: int, min_seconds: float) -> dict:
    for _ in range(warmup):
        run(ids, mask, types)
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        run(ids, mask, types)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"runs": len(times), "p50_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "mean_ms": statistics.fmean(times)}


def weight_bytes(report: dict, bundle: dict) -> str:
    by = report.get("weight_bytes_by_dtype")
    if not by:
        return ""
    return ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v > 1e5)


def load_previous(model_sha: str) -> dict:
    """Rows from an earlier run of the same checkpoint whose bundles still exist: exports are slow."""
    path = HERE / "results.json"
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    if old.get("model_sha256") != model_sha:
        return {}
    return {(r["target"], r["quantize"]): r for r in old.get("rows", []) if Path(r.get("path", "")).exists()}


def measure(rows: list, args) -> None:
    """All latencies in one back-to-back pass, so every row sees the same machine state."""
    from edgebert.exporters import get_exporter
    from edgebert.exporters.bundle import bundle_artifact, read_bundle

    for row in rows:
        ex = get_exporter(row["target"])
        if not ex.can_run_here():
            row["latency"] = None
            continue
        path = Path(row["path"])
        meta = read_bundle(path)
        run = ex.runner(bundle_artifact(path, meta))
        ids = np.full((1, meta.seq_len), 1000, dtype=np.int64)
        row["load_average_before"] = os.getloadavg()[0]
        row["latency"] = latency(run, ids, np.ones_like(ids), np.zeros_like(ids), 10, args.runs, args.min_seconds)
        print(json.dumps({"bundle": row["bundle"], "latency": row["latency"]}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="checkpoint folder [default: the embedded teacher]")
    ap.add_argument("--data", type=Path, help="labelled data [default: packaged Rotten Tomatoes]")
    ap.add_argument("--work", type=Path, default=Path("runs/bench-export"), help="where bundles are written")
    ap.add_argument("--only", nargs="*", help="targets to run (default: all)")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--no-measure", action="store_true", help="export and gate only; time later on an idle machine")
    ap.add_argument("--fresh", action="store_true", help="re-export even where a bundle from this checkpoint exists")
    args = ap.parse_args()

    from edgebert.quiet import quiet_libraries

    quiet_libraries()
    from edgebert.data import load_labelled
    from edgebert.data.default import load_rotten_tomatoes
    from edgebert.exporters.bundle import read_bundle
    from edgebert.exporters.export import ExportOptions, export_model
    from edgebert.model import load_model, weights_sha256
    from edgebert.teacher_head import default_teacher

    model_dir = args.model or default_teacher()
    model = load_model(model_dir)
    data = load_labelled(args.data, label_names=model.config.label_names) if args.data else load_rotten_tomatoes()
    import torch

    from edgebert.evaluation import cpu_latency

    sha = weights_sha256(model_dir)
    previous = {} if args.fresh else load_previous(sha)
    result = {"host": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
                      f"torch threads {torch.get_num_threads()}",
              "model": str(model_dir), "model_sha256": sha, "parameters": model.num_parameters()}
    rows = []
    for target, quantize in PLAN:
        if args.only and target not in args.only:
            continue
        if (target, quantize) in previous:
            print(f"{target} {quantize}: reusing {previous[(target, quantize)]['path']}")
            rows.append(previous[(target, quantize)])
            continue
        t0 = time.time()
        (res,) = export_model(model_dir, data, args.work, ExportOptions([target], quantize))
        meta = read_bundle(res.path)
        rows.append({"bundle": res.path.name, "path": str(res.path.resolve()), "target": target,
                     "quantize": quantize, "precision": str(meta.precision), "status": meta.status,
                     "bytes": meta.artifact.bytes, "export_and_gate_seconds": round(time.time() - t0, 1),
                     "load_average_during_export": os.getloadavg()[0], "gates": meta.gates,
                     "precision_report": meta.precision_report, "float_modules": meta.float_modules,
                     "fallback_attempts": len(meta.fallback_attempts), "seq_len": meta.seq_len})
        print(json.dumps({k: rows[-1][k] for k in ("bundle", "status", "bytes")}), flush=True)
        write(result, rows)  # after every bundle, so an interrupted run keeps what it exported
    if not args.no_measure:
        result["load_average_at_start"] = os.getloadavg()[0]
        result["pytorch_eager_latency"] = vars(cpu_latency(model, 64, runs=args.runs))
        measure(rows, args)
        result["load_average_at_end"] = os.getloadavg()[0]
        result["measured_at"] = time.strftime("%Y-%m-%d %H:%M")
    write(result, rows)
    print(f"wrote {HERE / 'results.md'}")


def write(result: dict, rows: list) -> None:
    result["rows"] = rows
    result["complete"] = len(rows) == len(PLAN)
    (HERE / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (HERE / "results.md").write_text(render(result))


def render(result: dict) -> str:
    measured = "pytorch_eager_latency" in result
    timing = (f"Latencies were all taken in one back-to-back pass at {result.get('measured_at')}, batch 1 at the "
              f"bundle's sequence length on this host's CPU, through the runner the gates use (not a phone "
              f"number); PyTorch eager p50 {result['pytorch_eager_latency']['p50_ms']:.2f} ms. 1-minute load "
              f"average {result['load_average_at_start']:.1f} at the start and {result['load_average_at_end']:.1f} "
              f"at the end of timing (it counts the benchmark's own threads; no other job ran)."
              if measured else "**Latency not measured yet** (exported with --no-measure).")
    lines = [
        "# Export benchmark: all-MiniLM-L6-v2 + Rotten Tomatoes head (the embedded teacher)",
        "",
        f"Measured by `benchmarks/export/run.py` on {result['host']}. {timing}",
        "" if result.get("complete") else "\n**Incomplete run: only the bundles below were exported.**\n",
        "| bundle | gate | size MB | max logit diff | argmax agree | mean prob change | test acc (artifact / torch) "
        "| kept float (fallback) | p50 ms | p90 ms | what runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        g = r["gates"]
        par, acc, lat = g.get("parity"), g.get("accuracy"), r.get("latency")
        extra = [m for m in r.get("float_modules", []) if m not in ("embeddings", "classifier")]
        lines.append("| {} | {} | {:.1f} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["bundle"], r["status"], r["bytes"] / 1e6,
            f"{par['max_abs_diff']:.2g}" if par else "n/a", f"{par['argmax_agreement']:.3f}" if par else "n/a",
            f"{par['mean_prob_diff']:.4f}" if par else "n/a",
            f"{acc['artifact_accuracy']:.4f} / {acc['pytorch_accuracy']:.4f}" if acc else "n/a",
            ", ".join(extra) or "-",
            f"{lat['p50_ms']:.2f}" if lat else "n/a", f"{lat['p90_ms']:.2f}" if lat else "n/a",
            r["precision_report"]["summary"].replace("|", "/")))
    lines += ["", "Parity and accuracy are on the full Rotten Tomatoes test split (1,275 snippets). "
              "Int8 bundles keep embeddings, LayerNorm, Softmax, attention-score matmuls and the classifier "
              "in float; 'kept float' lists layers the sensitivity fallback also kept float. Each bundle's "
              "metadata.json has the full gate results and fallback attempts.",
              "", "**ONNX: static QDQ int8 is slower than fp32 on this x86 host** (measured above), while dynamic "
              "int8 is the fastest ONNX variant here. Static QDQ is the portable format that mobile execution "
              "providers consume; check it on the device you ship to (`edgebert bench`) before choosing it for "
              "latency.",
              "", "**Why int8 is only ~1.5x smaller, not 4x.** edgebert's int8 scheme quantizes the linear layers "
              "only; the word-embedding table (30,522 x 384 fp32 = 46.9 MB) stays float in every bundle, and it is "
              "half of this 6-layer model's 22.6M parameters. The encoder linears shrink 4x; the table does not. "
              "Vocabulary trimming (keep the WordPiece rows the task uses) is what shrinks it.",
              "", "Where gates ran: " + "; ".join(sorted({r['gates'].get('verified_in', '') for r in result['rows']})), ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
