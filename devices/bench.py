"""`edgebert bench`: measure bundles on one device, always next to their teacher.

One session: describe the device, push the runner once, pick a runner per format (a
missing one fails before anything is measured), then for each artifact push it, cool down
if asked, read thermals, run, parse, check the logits, and remove it. The logits are checked
against the PyTorch logits recorded in the bundle at export time (reference.json, whose
example 0 the device is fed), so the check means the same on every device, the host
included; with ``--sentence``, or a bundle made before reference.json, against the
artifact's runtime on the host.
A device that vanishes, a crashing runner or a timeout stops the session with one line;
what was measured so far is written, marked incomplete; the device is always cleaned.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


from edgebert.errors import EdgebertError
from edgebert.fsutil import check_output_dir, safe_name
from edgebert.progress import console, progress
from edgebert.exporters.sequence import SeqKind

from . import get_transport
from .base import DeviceError, DeviceTimeout, RunnerCrashed, Transport
from .measurement import BenchReport, Measurement, load_bundle, plan
from .runners import PythonRunner, SCRIPT, format_of, loader_files, select_runner
from .sanity import check_logits, length_samples, sanity_input
from .settings import BenchSettings
from .teacher_bundle import resolve_teachers

TIMEOUT_EXIT = 124  # `timeout`'s status when it killed the command


# --------------------------------------------------------------------------- device steps

def _probe(transport: Transport, workdir: str) -> dict | None:
    py = transport.python_command()
    if not py:
        return None
    runner = PythonRunner(py, SCRIPT, loader_files())
    runner.install(transport, workdir)
    res = transport.run(runner.probe_command(workdir), timeout=300)
    try:
        return json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else None
    except (json.JSONDecodeError, IndexError):
        return None


def _cooldown(transport: Transport, s: BenchSettings) -> dict | None:
    if s.cooldown_temp is None:
        return None
    t0 = time.monotonic()
    while True:
        temp = transport.thermal().get("temperature_c")
        waited = round(time.monotonic() - t0, 1)
        if temp is None:
            return {"skipped": "no temperature readable on this device"}
        if temp <= s.cooldown_temp:
            return {"waited_s": waited, "temperature_c": temp, "target_c": s.cooldown_temp}
        if waited >= s.cooldown_max_seconds:
            return {"waited_s": waited, "temperature_c": temp, "target_c": s.cooldown_temp, "gave_up": True}
        time.sleep(s.cooldown_poll_seconds)


def measure(transport: Transport, runner, m: Measurement, workdir: str, s: BenchSettings) -> None:
    """Push, run and parse one artifact, filling ``m`` (raises DeviceError on failure)."""
    bundle = Path(m.bundle)
    meta = load_bundle(bundle)
    local = bundle / meta.artifact.file
    si = sanity_input(bundle, meta, s.sentence, fitted=False)  # the maximum length: the worst case
    inputs = si.inputs
    samples = length_samples(bundle, meta) if runner.times_samples else None
    m.padded_always = meta.sequence.kind is SeqKind.STATIC
    remote = f"{workdir}/{safe_name(m.name)}{local.suffix}"
    transport.push(local, remote)
    m.runner = runner.name
    m.cooldown = _cooldown(transport, s)
    m.thermal_before = transport.thermal()
    argv = runner.command(transport, workdir, remote, local, inputs, s, samples)
    if s.pin_cores:
        cores = transport.big_cores()
        prefix = transport.pin_prefix(cores) if cores else None
        if prefix:
            argv, m.pinned_cores = prefix + argv, cores
    res = transport.run(argv, s.timeout)
    if res.returncode == TIMEOUT_EXIT:
        raise DeviceTimeout(f"{runner.name} runner on {m.name} ran past {s.timeout:.0f} s",
                            "raise --timeout or lower --runs/--min-seconds")
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        raise RunnerCrashed(f"{runner.name} runner crashed on {m.name} (exit {res.returncode})", last[:200])
    result = runner.parse(res.stdout, res.stderr, s)
    m.thermal_after = transport.thermal()
    m.result = result.to_dict()
    m.sanity = check_logits(si, result.outputs, bundle, meta, m.precision)
    m.status = "measured"
    transport.run(["rm", "-f", remote], timeout=60)  # one artifact on the device at a time


# --------------------------------------------------------------------------- preflight

def check_device(device: str, targets: list[str], settings: BenchSettings | None = None) -> None:
    """Reach ``device`` and find a runner for every target, before compression and export start:
    a missing phone or runtime is reported in seconds, not after an hour of work."""
    from edgebert.exporters import get_exporter

    if device.startswith("browser"):
        from .browser import check_browser

        return check_browser(device, targets)
    formats = sorted({get_exporter(t).format for t in targets})
    s = (settings or BenchSettings()).validate()
    transport = get_transport(device)
    try:
        info = transport.describe()
        probe = _probe(transport, transport.workdir())
        for fmt in formats:
            select_runner(fmt, transport, info, probe, s.runner, s.benchmark_model)
    finally:
        transport.cleanup()


# --------------------------------------------------------------------------- session

def run_bench(bundles: list[Path], device: str, settings: BenchSettings | None = None, out_dir: Path | None = None,
              teachers: list[Path] = (), progress_enabled: bool | None = None,
              allow_failed_gates: bool = False) -> BenchReport:
    """Measure ``bundles`` and their teachers on ``device``; writes bench.json/.md/.png to ``out_dir``.

    Every bundle is verified first (artifact hash, labels, gates): numbers measured on a
    swapped or failed artifact would be reported beside the original's accuracy."""
    from edgebert.exporters.bundle import verify_bundle

    from .bench_report import write_report

    s = (settings or BenchSettings()).validate()
    if not bundles:
        raise EdgebertError("no bundle given", "pass one or more bundle folders written by `edgebert export`")
    bundles = [Path(b).resolve() for b in dict.fromkeys(bundles)]
    metas = {b: verify_bundle(b, allow_failed_gates=allow_failed_gates) for b in bundles}
    teachers = [Path(t).resolve() for t in teachers]
    for t in teachers:
        verify_bundle(t, allow_failed_gates=allow_failed_gates)
    out_dir = check_output_dir(out_dir or "bench", "--out")
    if device.startswith("browser"):  # no shell to push a runner to: a served page measures (devices/browser.py)
        from .browser import run_browser_bench

        return run_browser_bench(bundles, device, s, out_dir, teachers, allow_failed_gates)
    t0 = time.time()
    transport = get_transport(device)
    report = BenchReport(device={"spec": device}, settings=s.to_dict())
    failure: DeviceError | None = None
    started = False
    try:
        info = transport.describe()
        report.device = {"spec": device, **info.to_dict()}
        console.print(f"device: {info.where}")
        workdir = transport.workdir()
        probe = _probe(transport, workdir)
        report.device["runtimes"] = probe
        formats = {format_of(b / m.artifact.file) for b, m in metas.items()}
        runners = {fmt: select_runner(fmt, transport, info, probe, s.runner, s.benchmark_model) for fmt in sorted(formats)}
        teacher_of = resolve_teachers(metas, teachers, out_dir / "teachers", s.teacher_eval_limit)
        report.measurements = plan(bundles, teacher_of)
        for r in {id(r): r for r in runners.values()}.values():
            if not isinstance(r, PythonRunner):  # the script is already there from the probe
                r.install(transport, workdir)
        started = True
        with progress(transient=True, enabled=progress_enabled) as bar:
            task = bar.add_task("benchmarking", total=len(report.measurements))
            for m in report.measurements:
                bar.update(task, description=f"{m.name} ({m.format})")
                try:
                    measure(transport, runners[m.format], m, workdir, s)
                except DeviceError as exc:
                    m.status, m.error = "failed", exc.one_line()
                    raise
                bar.advance(task)
        report.complete = True
    except DeviceError as exc:
        failure = exc
        report.error = exc.one_line()
    finally:
        transport.cleanup()
        report.leftover = transport.leftover
        report.seconds = round(time.time() - t0, 1)
    if started:
        write_report(report, out_dir)
    if failure is not None:
        if not started:
            raise failure
        where = f"; partial report in {out_dir}" if started else ""
        left = f"; could not remove {report.leftover} from the device" if report.leftover else ""
        raise type(failure)(f"{failure.message}{where}{left}", failure.hint)
    return report
