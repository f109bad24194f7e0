"""Headline benchmark: the whole `edgebert run` pipeline on the real packaged teacher and data.

Runs the shipped ``headline`` run recipe (see src/edgebert/pipeline/recipes/headline.yaml)
through the same Python API as `edgebert run`, copies its report here, and writes
results.md: the goals of issue 15 (int8 student >= 98% of the full-size fp32 teacher's
accuracy and >= 84% on the test split, >= 20x smaller, >= 10x faster at the maximum length
and at the real length distribution, side by side on the same runtime) per target, where
each artifact's bytes go, and the int8 student against its fp32 twin.

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
GOALS = {"accuracy_ratio": 0.98, "size_ratio": 20.0, "speedup_p50": 10.0, "speedup_real": 10.0,
         "student_accuracy": 0.84}
TINYBERT = "TinyBERT-4 reported 96.8% of BERT-base's accuracy, 7.5x smaller, 9.4x faster (Jiao et al., 2020)."


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def goals_table(doc: dict) -> list[str]:
    lines = ["| target | student runs as | accuracy (% of teacher) | size ratio | speedup p50 at max length | "
             "speedup p50 at real lengths | student p50 ms (max / real lengths) | peak RSS MB student / teacher "
             "(model share) | goals met |", "|---|---|---|---|---|---|---|---|---|"]
    teachers = {a["target"]: a for a in doc["artifacts"] if a["role"] == "teacher"}
    for a in doc["artifacts"]:
        if a["role"] != "student":
            continue
        v, lat = a["vs_teacher"], a["latency"].get("host", {})
        t_lat = teachers.get(a["target"], {}).get("latency", {}).get("host", {})
        acc, size = v.get("accuracy_ratio"), v.get("size_ratio")
        speed = (v.get("speedup_p50") or {}).get("host")
        real = (v.get("speedup_p50_real_lengths") or {}).get("host")
        if acc is None or size is None:
            lines.append(f"| {a['target']} | {a['precision']} | {a['status']} | – | – | – | – | – | – |")
            continue
        met = [("accuracy", acc >= GOALS["accuracy_ratio"]), ("student >= 84%", a["accuracy"] >= GOALS["student_accuracy"]),
               ("size", size >= GOALS["size_ratio"]), ("speed max", speed is not None and speed >= GOALS["speedup_p50"]),
               ("speed real", real is not None and real >= GOALS["speedup_real"])]
        rss = (f"{_f(lat.get('peak_rss_mb'), '{:.0f}')} ({_f(lat.get('model_rss_mb'), '{:.0f}')}) / "
               f"{_f(t_lat.get('peak_rss_mb'), '{:.0f}')} ({_f(t_lat.get('model_rss_mb'), '{:.0f}')})")
        lines.append(f"| {a['target']} | {a['precision']} | {a['accuracy']:.4f} ({100 * acc:.1f}%) | {size:.1f}x | "
                     f"{_f(speed, '{:.1f}x')} | {_f(real, '{:.1f}x')} | {_f(lat.get('p50_ms'))} / "
                     f"{_f(lat.get('p50_ms_real_lengths'))} | {rss} | "
                     f"{', '.join(f'{n} {_yes(m)}' for n, m in met)} |")
    return lines


def _f(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def size_rows(doc: dict) -> list[str]:
    from edgebert.exporters.size_accounting import OVERHEAD_GOAL

    rows = ["| artifact | MB | int8 weights MB | float weights MB | other constants MB | overhead MB | "
            f"file / weights (goal <= {OVERHEAD_GOAL}) |", "|---|---|---|---|---|---|---|"]
    for a in doc["artifacts"]:
        acc = a.get("size_accounting")
        if not acc:
            continue
        mb = [acc[k] / 1e6 for k in ("artifact_bytes", "int8_weight_bytes", "float_weight_bytes",
                                      "other_weight_bytes", "overhead_bytes")]
        rows.append(f"| {a['name']} | " + " | ".join(f"{x:.2f}" for x in mb) +
                    f" | {acc['artifact_over_weights']:.3f} ({_yes(acc['overhead_goal_met'])}) |")
    return rows


def twin_rows(spec, work: Path, doc: dict) -> list[str]:
    """Export the student in fp32 to each target (same checkpoint, same gates) and compare its
    size with the int8 student: the 'int8 <= 0.3x its fp32 twin' goal, measured."""
    from edgebert.exporters.bundle import read_bundle
    from edgebert.exporters.export import ExportOptions, export_model
    from edgebert.exporters.size_accounting import TWIN_GOAL
    from edgebert.model import weights_sha256
    from edgebert.pipeline.run import resolve_inputs

    src = work / "student"
    if not (src / "config.json").exists():
        return []
    data = resolve_inputs(spec).data
    sha = weights_sha256(src)
    seq_len = (doc["compression"].get("data") or {}).get("max_seq_len")
    rows = ["| target | int8 student | int8 MB | fp32 twin MB | int8 / fp32 | goal <= 0.3 |", "|---|---|---|---|---|---|"]
    for a in (a for a in doc["artifacts"] if a["role"] == "student" and a.get("size_bytes")):
        dest = work / "bundles" / "student-fp32"
        path = dest / f"{a['target']}-{'fp16' if a['target'] == 'coreml' else 'fp32'}"
        if not ((path / "metadata.json").exists() and read_bundle(path).source_checkpoint.get("sha256") == sha):
            opts = ExportOptions([a["target"]], "none", seq_len=seq_len, calib_size=spec.export.calib_size,
                                 eval_limit=spec.export.eval_limit)
            (res,) = export_model(src, data, dest, opts)
            path = res.path
        fp32 = read_bundle(path).artifact.bytes
        ratio = a["size_bytes"] / fp32
        rows.append(f"| {a['target']} | {a['precision']} | {a['size_bytes'] / 1e6:.2f} | {fp32 / 1e6:.2f} | "
                    f"{ratio:.3f} | {_yes(ratio <= TWIN_GOAL)} |")
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
        "Goals (issue 15): int8 student accuracy >= 98% of the fp32 teacher's and >= 84% on the test split, "
        "artifact >= 20x smaller, p50 >= 10x faster at the maximum length and at the test split's real lengths, "
        f"each against the full-size teacher exported to the same target and measured in the same session. {TINYBERT}",
        "",
        "Latency: batch 1 on this host's CPU; 'max length' pads to the bundle's sequence length, 'real lengths' "
        "times 21 test sentences at evenly spaced quantiles of the split's token counts, each at the length the "
        "bundle's contract feeds it (static-length artifacts pad every one). Peak RSS is the runner process's; "
        "the model share is peak RSS less the RSS with the runtime imported and nothing loaded.", "",
        *goals_table(doc), "",
        f"Student: {comp['student'].get('layers')} layers, {comp['student'].get('parameters'):,} parameters "
        f"(teacher {comp['teacher'].get('layers')} layers, {comp['teacher'].get('parameters'):,}).",
    ]
    if trim:
        from edgebert.pipeline.run_report import trim_summary

        lines += ["", trim_summary(trim)]
    lines += ["", "Where each artifact's bytes go (stored weights by dtype, read from the file):", "", *size_rows(doc)]
    twins = twin_rows(spec, args.work, doc)
    if twins:
        lines += ["", "The int8 student against its fp32 twin (the same student exported fp32 to the same target):",
                  "", *twins]
    lines += ["", "Full report: [report.md](report.md) (also report.html, report.json and the plots here).", ""]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["## What limits these numbers", "", notes.read_text().strip(), ""]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'results.md'}")


if __name__ == "__main__":
    main()
