"""``run_pipeline()``: teacher + data -> compressed student -> gated bundles -> bench -> report.

Everything lives in one run folder::

    RUN/student/                       compressed checkpoint + compress_report.json
    RUN/bundles/teacher/<target>-fp32  the fp32 teacher, one bundle per target
    RUN/bundles/student/<target>-<p>   the student at its requested precision
    RUN/bench/<device>/                bench.json/.md/.png per device
    RUN/report/                        report.md, report.html, report.json, plots
    RUN/steps/<step>.json              what each finished step consumed (content hashes)

Re-running skips every step whose inputs hash the same and whose outputs still exist;
an interrupted compression resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..data.examples import examples_hash
from ..fsutil import check_output_dir, output_dir, safe_name
from ..inputs import Inputs, resolve
from ..progress import console
from .spec import RunSpec
from .steps import StepLog, fingerprint

ROLES = ("teacher", "student")


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    report_dir: Path
    report: dict
    skipped: list[str]
    ran: list[str]


def _model_hash(path: Path) -> str:
    from ..teacher_outputs import model_stamp
    from ..model import weights_sha256

    return weights_sha256(path) or model_stamp(path)


def resolve_inputs(spec: RunSpec) -> Inputs:
    """The teacher and labelled data of a run recipe (``default``: the embedded ones)."""
    return resolve(spec.teacher, spec.data, data_flag="--data (or data: in the recipe)")


def _bench_settings(b):
    from ..devices.settings import BenchSettings

    return BenchSettings(runs=b.runs, min_seconds=b.min_seconds, warmup=b.warmup, threads=b.threads, timeout=b.timeout)


class _Runner:
    def __init__(self, spec: RunSpec, run_dir: Path, fresh: bool):
        self.spec, self.run_dir = spec, run_dir
        self.log = StepLog(run_dir)
        self.fresh = fresh
        self.skipped: list[str] = []
        self.ran: list[str] = []
        self.n = 0

    def step(self, name: str, fp: str, work: Callable[[], tuple[dict, list[Path]]], total: int) -> dict:
        self.n += 1
        rec = None if self.fresh else self.log.done(name, fp)
        if rec is not None:
            console.print(f"[dim][{self.n}/{total}] {name}: inputs unchanged, skipped[/]")
            self.skipped.append(name)
            return rec
        console.print(f"[bold cyan][{self.n}/{total}] {name}[/]")
        t0 = time.time()
        outputs, paths = work()
        self.ran.append(name)
        return self.log.finish(name, fp, outputs, paths, time.time() - t0)


def run_pipeline(spec: RunSpec, run_dir: str | Path | None = None, *, fresh: bool = False) -> RunResult:
    """Run (or resume) ``spec``; returns where the report is."""
    from ..compression.run_recipe import check_recipe, compress
    from ..compression.stage_configs import StudentFacts
    from ..exporters import get_exporter
    from ..exporters.base import FLOAT
    from ..exporters.export import ExportContext, ExportOptions, export_model
    from .run_report import write_report

    t_start = time.time()
    run_dir = check_output_dir(Path(run_dir or Path("runs") / safe_name(spec.name)).expanduser(), "run folder")
    recipe = spec.compression_recipe()
    targets = list(spec.export.targets)
    for device in spec.bench.devices:  # a missing phone or runtime fails now, not after an hour of work
        from ..devices.bench import check_device

        console.print(f"checking device {device} ...")
        check_device(device, targets, _bench_settings(spec.bench))
    inputs = resolve_inputs(spec)
    teacher_dir, data, head_training = inputs.model_dir, inputs.data, inputs.head_training
    positions = inputs.model.config.max_seq_len
    check_recipe(recipe, inputs.model.num_layers, teacher_facts=StudentFacts.of(inputs.model))
    output_dir(run_dir, "run folder")
    teacher_hash = _model_hash(teacher_dir)
    data_hash = [examples_hash(data.examples), list(data.label_names)]
    seq_len = spec.export.seq_len or recipe.max_seq_len or int(head_training.get("max_seq_len") or min(128, positions))
    recipe = dataclasses.replace(recipe, max_seq_len=recipe.max_seq_len or seq_len)
    roles = [r for r in ROLES if r == "student" or spec.export.teacher]
    total = 1 + len(targets) * len(roles) + len(spec.bench.devices) + 1
    r = _Runner(spec, run_dir, fresh)
    console.print(f"edgebert run [bold]{spec.name}[/] -> {run_dir}  (teacher {teacher_dir}, data {data.source}, "
                  f"{len(data)} examples)")

    # 1. compress
    student_dir = run_dir / "student"
    c = spec.compress
    fp_c = fingerprint("compress", recipe.to_dict(), teacher_hash, data_hash, c.max_train_examples, c.max_steps,
                       c.seed, __version__)

    def do_compress():
        report = compress(teacher_dir, data, recipe, student_dir, max_steps=c.max_steps,
                          max_train_examples=c.max_train_examples, seed=c.seed, latency_runs=0, fresh=fresh)
        return {"student": str(student_dir), "student_sha": _model_hash(student_dir),
                "teacher_test_accuracy": report["teacher"]["test"]["accuracy"],
                "student_test_accuracy": report["student"]["test"]["accuracy"]}, [student_dir]

    rec_c = r.step("compress", fp_c, do_compress, total)
    models = {"teacher": (teacher_dir, teacher_hash), "student": (student_dir, rec_c["outputs"]["student_sha"])}

    # 2. export: fp32 teacher and quantized student per target, each gated against PyTorch
    bundles: dict[str, dict[str, dict]] = {role: {} for role in roles}
    contexts: dict[str, ExportContext] = {}  # per role, shared by its targets: built on the first export that runs
    for role in roles:
        model_dir, model_hash = models[role]
        for target in targets:
            quantize = FLOAT if role == "teacher" else spec.export.precision_for(target)
            e = spec.export
            opts = ExportOptions([target], quantize, seq_len=seq_len, calib_size=e.calib_size, eval_limit=e.eval_limit,
                                 accuracy_budget=e.accuracy_budget)
            fp_e = fingerprint("export", role, target, quantize, model_hash, data_hash, dataclasses.asdict(opts),
                               __version__)

            def do_export(model_dir=model_dir, role=role, opts=opts):
                if role not in contexts:
                    contexts[role] = ExportContext(model_dir, data, opts)
                (res,) = export_model(model_dir, data, run_dir / "bundles" / role, opts, context=contexts[role])
                from ..exporters.bundle import read_bundle

                meta = read_bundle(res.path)
                return {"bundle": str(res.path), "passed": res.passed, "target": res.target,
                        "precision": res.precision, "artifact_sha256": meta.artifact.sha256,
                        "artifact_bytes": meta.artifact.bytes}, [res.path]

            label = get_exporter(target).precision_for(quantize)
            rec = r.step(f"export {role} {target} ({label})", fp_e, do_export, total)
            bundles[role][target] = rec["outputs"]

    # 3. bench every passed bundle on each device, the teacher of the same target alongside
    bench_dirs: dict[str, Path] = {}
    for device in spec.bench.devices:
        cands = [Path(b["bundle"]) for b in bundles["student"].values() if b["passed"]]
        teachers = [Path(b["bundle"]) for b in bundles.get("teacher", {}).values() if b["passed"]]
        out = run_dir / "bench" / safe_name(device)
        bench_dirs[device] = out
        if not cands:
            console.print(f"[yellow]no student bundle passed its gates: nothing to bench on {device}[/]")
            continue
        b = spec.bench
        fp_b = fingerprint("bench", device, dataclasses.asdict(b),
                           sorted(x["artifact_sha256"] or x["bundle"] for role in bundles.values() for x in role.values()))

        def do_bench(device=device, cands=cands, teachers=teachers, out=out):
            from ..devices.bench import run_bench

            rep = run_bench(cands, device, _bench_settings(b), out, teachers=teachers)
            return {"bench_dir": str(out), "complete": rep.complete}, [out / "bench.json"]

        r.step(f"bench on {device}", fp_b, do_bench, total)

    # 4. report (always rewritten: cheap, and it reflects every step's current outputs)
    r.n += 1
    console.print(f"[bold cyan][{r.n}/{total}] report[/]")
    report_dir = run_dir / "report"
    doc = write_report(spec, run_dir, student_dir, bundles, bench_dirs, report_dir,
                       steps={"ran": r.ran, "skipped": r.skipped, "seconds": round(time.time() - t_start, 1)})
    console.print(f"[green]done in {time.time() - t_start:.0f} s[/]: report at {report_dir / 'report.md'} "
                  f"(and report.html)")
    return RunResult(run_dir, report_dir, doc, r.skipped, r.ran)


__all__ = ["run_pipeline", "RunResult", "resolve_inputs"]
