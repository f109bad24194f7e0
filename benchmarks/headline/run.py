"""Headline benchmark: the whole `edgebert run` pipeline on the real packaged teacher and data.

Runs the shipped ``headline`` run recipe (see src/edgebert/pipeline/recipes/headline.yaml)
through the same Python API as `edgebert run`, copies its report here, and writes
results.md: the goals (int8 student >= 97% of the teacher's accuracy, >= 10x smaller,
>= 10x faster than the fp32 teacher, side by side on the same runtime) per target.

    .venv/bin/python benchmarks/headline/run.py             # run (or resume) and render
    .venv/bin/python benchmarks/headline/run.py --rebench   # re-measure latencies only, back to back
    .venv/bin/python benchmarks/headline/run.py --render    # re-render from the last run

Latency is measured on the machine it runs on; results.md says which, and records the
load average before and after so a busy machine's numbers are recognisable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOALS = {"accuracy_ratio": 0.97, "size_ratio": 10.0, "speedup_p50": 10.0}
TINYBERT = "TinyBERT-4 reported 96.8% of BERT-base's accuracy, 7.5x smaller, 9.4x faster (Jiao et al., 2020)."


def goals_table(doc: dict) -> list[str]:
    lines = ["| target | student runs as | accuracy (% of teacher) | size ratio | speedup p50 | goals met |",
             "|---|---|---|---|---|---|"]
    for a in doc["artifacts"]:
        if a["role"] != "student":
            continue
        v = a["vs_teacher"]
        acc, size = v.get("accuracy_ratio"), v.get("size_ratio")
        speed = next(iter((v.get("speedup_p50") or {}).values()), None)
        met = [acc is not None and acc >= GOALS["accuracy_ratio"], size is not None and size >= GOALS["size_ratio"],
               speed is not None and speed >= GOALS["speedup_p50"]]
        marks = ", ".join(f"{n} {'yes' if m else 'no'}" for n, m in zip(("accuracy", "size", "speed"), met))
        lines.append(f"| {a['target']} | {a['precision']} | {a['accuracy']:.4f} ({100 * acc:.1f}%) | "
                     f"{size:.1f}x | {'–' if speed is None else f'{speed:.1f}x'} | {marks} |"
                     if acc is not None and size is not None else f"| {a['target']} | {a['precision']} | "
                     f"{a['status']} | – | – | – |")
    return lines


def untrimmed_rows(spec, work: Path, doc: dict) -> list[str]:
    """Export the student as it was before vocabulary trimming (same targets and precisions) and
    compare artifact size and gated accuracy per target: what trimming buys, measured."""
    from edgebert.exporters.bundle import read_bundle
    from edgebert.exporters.export import ExportOptions, export_model
    from edgebert.model import weights_sha256
    from edgebert.pipeline.run import resolve_inputs

    src = work / "student-untrimmed"
    if not src.exists():
        return []
    data = resolve_inputs(spec).data
    sha = weights_sha256(src)
    seq_len = (doc["compression"].get("data") or {}).get("max_seq_len")
    trimmed = {a["target"]: a for a in doc["artifacts"] if a["role"] == "student"}
    rows = ["| target | precision | untrimmed MB | trimmed MB | size gain | untrimmed accuracy | trimmed accuracy |",
            "|---|---|---|---|---|---|---|"]
    for target, a in trimmed.items():
        q = spec.export.precision_for(target)
        dest = work / "bundles" / "untrimmed"
        found = [p for p in dest.glob(f"{target}-*") if (p / "metadata.json").exists()
                 and read_bundle(p).source_checkpoint.get("sha256") == sha] if dest.exists() else []
        if found:
            path = found[0]
        else:
            opts = ExportOptions([target], q, seq_len=seq_len, calib_size=spec.export.calib_size,
                                 eval_limit=spec.export.eval_limit, accuracy_budget=spec.export.accuracy_budget)
            (res,) = export_model(src, data, dest, opts)
            path = res.path
        meta = read_bundle(path)
        ub, tb = meta.artifact.bytes, a["size_bytes"]
        ua = (meta.accuracy_gate or {}).get("artifact_accuracy")
        rows.append(f"| {target} | {meta.precision} | {ub / 1e6:.1f} | {tb / 1e6:.1f} | {ub / tb:.2f}x | "
                    f"{'–' if ua is None else f'{ua:.4f}'} | {a['accuracy']:.4f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "headline", help="run folder (kept between runs)")
    ap.add_argument("--rebench", action="store_true", help="drop the bench step records so latencies are re-measured")
    ap.add_argument("--render", action="store_true", help="only copy and render the last run's report")
    args = ap.parse_args()

    from edgebert.pipeline.run import run_pipeline
    from edgebert.pipeline.spec import load_run_spec

    spec = load_run_spec("headline")
    load_start = os.getloadavg()
    t0 = time.time()
    if not args.render:
        if args.rebench:
            for rec in (args.work / "steps").glob("bench*.json"):
                rec.unlink()
        run_pipeline(spec, args.work)
    meta_file = HERE / "run_meta.json"
    if args.render and meta_file.exists():
        meta = json.loads(meta_file.read_text())
    else:
        meta = {"load_start": load_start[0], "load_end": os.getloadavg()[0],
                "seconds": round(time.time() - t0), "machine": platform.machine(), "cores": os.cpu_count()}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
    report = args.work / "report"
    doc = json.loads((report / "report.json").read_text())
    for f in report.iterdir():
        shutil.copy2(f, HERE / f.name)
    comp = doc["compression"]
    d = comp.get("data") or {}
    trim = comp.get("vocab_trim") or {}
    lines = [
        "# Headline: teacher vs compressed int8 student, one run, same runtimes", "",
        f"Produced by `benchmarks/headline/run.py` (the shipped `headline` run recipe through `edgebert run`'s API) "
        f"on {meta['machine']} with {meta['cores']} cores; load average at start "
        f"{meta['load_start']:.2f}, at end {meta['load_end']:.2f}; the last run took {meta['seconds']} s "
        f"(steps skipped when unchanged: {', '.join(doc['steps']['skipped']) or 'none'}).", "",
        f"Subsampled: the student trained on {d.get('train_used')} of {d.get('train_available')} training snippets; "
        f"accuracy gates use the whole held-out test split ({d.get('test')} snippets).", "",
        "Goals: int8 student accuracy >= 97% of the fp32 teacher's, artifact >= 10x smaller and >= 10x faster "
        f"(p50), each against the teacher exported to the same target and measured in the same session. {TINYBERT}", "",
        *goals_table(doc), "",
        f"Student: {comp['student'].get('layers')} layers, {comp['student'].get('parameters'):,} parameters "
        f"(teacher {comp['teacher'].get('layers')} layers, {comp['teacher'].get('parameters'):,}).",
    ]
    if trim:
        from edgebert.pipeline.run_report import trim_summary

        lines += ["", trim_summary(trim), "",
                  "What trimming buys per target (the student exported before and after trimming, same precision, "
                  "gated on the same test split):", "", *untrimmed_rows(spec, args.work, doc)]
    lines += ["", "Full report: [report.md](report.md) (also report.html, report.json and the plots here).", ""]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["## What limits these numbers", "", notes.read_text().strip(), ""]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'results.md'}")


if __name__ == "__main__":
    main()
