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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgebert.errors import EdgebertError
from edgebert.fsutil import check_output_dir, safe_name
from edgebert.progress import console, progress

from . import get_transport
from .base import DeviceError, DeviceTimeout, RunnerCrashed, Transport
from .runners import PythonRunner, SCRIPT, format_of, loader_files, select_runner
from .settings import DEFAULT_SENTENCE, BenchSettings
from .teacher_bundle import resolve_teachers

TIMEOUT_EXIT = 124  # `timeout`'s status when it killed the command


@dataclass
class Measurement:
    name: str
    bundle: str
    role: str  # teacher | candidate
    target: str
    precision: str
    format: str
    size_bytes: int
    accuracy: dict | None  # from the bundle's gates: split, examples, artifact/pytorch accuracy
    teacher: str | None = None  # name of the teacher measurement this one is compared with
    status: str = "pending"  # measured | failed | pending
    runner: str | None = None
    result: dict | None = None  # RunnerResult
    sanity: dict | None = None
    thermal_before: dict = field(default_factory=dict)
    thermal_after: dict = field(default_factory=dict)
    cooldown: dict | None = None
    pinned_cores: list[int] | None = None
    error: str | None = None

    @property
    def p50(self) -> float | None:
        return (self.result or {}).get("latency_ms", {}).get("p50") if self.result else None


@dataclass
class BenchReport:
    device: dict
    settings: dict
    measurements: list[Measurement] = field(default_factory=list)
    complete: bool = False
    error: str | None = None
    leftover: str | None = None  # scratch folder left on an unreachable device
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    seconds: float = 0.0

    def by_name(self, name: str | None) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)

    def comparison(self, m: Measurement) -> dict:
        """Speedup (teacher p50 / p50) and size ratio (teacher bytes / bytes), where measured."""
        t = self.by_name(m.teacher)
        if t is None or m.role == "teacher":
            return {}
        out = {"teacher": t.name, "size_ratio": t.size_bytes / m.size_bytes if m.size_bytes else None}
        if t.p50 and m.p50:
            out["speedup_p50"] = t.p50 / m.p50
        ta, ma = (t.accuracy or {}).get("accuracy"), (m.accuracy or {}).get("accuracy")
        if ta is not None and ma is not None:
            out["accuracy_delta_points"] = 100 * (ma - ta)
        return out

    def to_dict(self) -> dict:
        return {"format": "edgebert-bench", "format_version": 1, "started": self.started, "seconds": self.seconds,
                "complete": self.complete, "error": self.error, "leftover_on_device": self.leftover,
                "device": self.device, "settings": self.settings,
                "measurements": [asdict(m) | {"vs_teacher": self.comparison(m)} for m in self.measurements]}


# --------------------------------------------------------------------------- bundles

def load_bundle(path: Path) -> dict:
    """A bundle's metadata, once :func:`run_bench` has verified it."""
    from edgebert.exporters.bundle import read_bundle

    return read_bundle(Path(path))


def _accuracy(meta: dict) -> dict | None:
    acc = (meta.get("gates") or {}).get("accuracy")
    if not acc:
        return None
    return {"split": acc.get("split"), "examples": acc.get("examples"), "accuracy": acc.get("artifact_accuracy"),
            "pytorch_accuracy": acc.get("pytorch_accuracy"), "gate_passed": acc.get("passed")}


def _measurement(path: Path, meta: dict, role: str, name: str) -> Measurement:
    art = path / meta["artifact"]["file"]
    size = art.stat().st_size if art.is_file() else sum(p.stat().st_size for p in art.rglob("*") if p.is_file())
    return Measurement(name=name, bundle=str(path), role=role, target=meta["target"], precision=meta["precision"],
                       format=format_of(art), size_bytes=size,
                       accuracy=_accuracy(meta))


def encode_sentence(bundle: Path, seq_len: int, sentence: str) -> dict[str, np.ndarray]:
    """The sentence through the bundle's own tokenizer, padded to its static length."""
    from edgebert.data import Example, encode, load_tokenizer

    enc = encode(load_tokenizer(bundle), [Example(sentence)], seq_len)
    return {n: getattr(enc, n).numpy() for n in ("input_ids", "attention_mask", "token_type_ids")}


def host_reference(bundle: Path, meta: dict, inputs: dict[str, np.ndarray]) -> np.ndarray | None:
    """The same input through the artifact's runtime here (None when it cannot run here)."""
    from edgebert.exporters import get_exporter
    from edgebert.exporters.bundle import bundle_artifact

    exporter = get_exporter(meta["target"])
    if not exporter.can_run_here():
        return None
    art = bundle_artifact(bundle, meta)
    return np.asarray(exporter.runner(art)(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]))


RECORDED, HOST = "recorded PyTorch reference", "host runtime"
# Tolerance as a fraction of the spread of the logits seen (the recorded ones where the bundle
# has them), so it means the same for logits of a few hundredths and of tens: fp32 runtimes
# agree with PyTorch to rounding, fp16 to a few parts per thousand; int8 differs from PyTorch
# by its quantization error and across CPUs by its kernels, so it is loose (and the class must match).
RELATIVE_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}
QUANTIZED_RELATIVE_TOLERANCE = 0.1


@dataclass
class SanityInput:
    """What the device is fed, and what its logits are checked against."""

    inputs: dict[str, np.ndarray]
    against: str  # RECORDED | HOST
    expected: np.ndarray | None  # the recorded PyTorch logits (HOST: computed after the run)
    spread: float | None  # max - min of the recorded logits: what "close" means for this model
    text: str | None  # the text the inputs encode (a browser tokenizes it itself); None for a pair
    note: str | None = None


def sanity_input(bundle: Path, meta: dict, sentence: str | None) -> SanityInput:
    """Reference example 0 unless a sentence is given or the bundle predates reference.json."""
    from edgebert.exporters.bundle import read_reference

    ref = read_reference(bundle, meta)
    spread = float(np.ptp([r["logits"] for r in ref["examples"]])) if ref else None
    if sentence is None and ref is not None:
        ex = ref["examples"][0]
        inputs = {n: np.asarray([ex[n]], dtype=np.int64) for n in ("input_ids", "attention_mask", "token_type_ids")}
        return SanityInput(inputs, RECORDED, np.asarray(ex["logits"]), spread,
                           None if "text_pair" in ex else ex.get("text"))
    text = sentence or DEFAULT_SENTENCE
    note = None if ref else "the bundle has no reference.json (made before edgebert recorded one)"
    return SanityInput(encode_sentence(bundle, int(meta["seq_len"]), text), HOST, None, spread, text, note)


def check_logits(si: SanityInput, device_logits: list, bundle: Path, meta: dict, precision: str) -> dict:
    expected = si.expected if si.against == RECORDED else host_reference(bundle, meta, si.inputs)
    out = sanity(device_logits, expected, precision, against=si.against, spread=si.spread)
    return out | ({"note": si.note} if si.note else {})


def sanity(device_logits: list, reference: np.ndarray | None, precision: str, *, against: str = HOST,
           spread: float | None = None) -> dict:
    """Did the device compute ``reference`` (the recorded PyTorch logits or the host runtime's)?

    The tolerance is a fraction of ``spread`` (of the recorded logits; else of ``reference``)."""
    if not device_logits:
        return {"checked": False, "against": against, "why": "the runner prints no outputs"}
    if reference is None:
        return {"checked": False, "against": against, "why": "the artifact's runtime does not run on this host"}
    dev, ref = np.asarray(device_logits, dtype=np.float64).reshape(-1), np.asarray(reference, np.float64).reshape(-1)
    if dev.shape != ref.shape:
        return {"checked": True, "passed": False, "against": against,
                "why": f"{dev.size} outputs on the device, {ref.size} expected"}
    scale = float(np.ptp(ref)) if spread is None else spread
    scale = max(scale, float(np.finfo(np.float32).eps * np.abs(ref).max()))  # a constant model: rounding only
    tol = RELATIVE_TOLERANCE.get(precision, QUANTIZED_RELATIVE_TOLERANCE) * scale
    diff = float(np.abs(dev - ref).max())
    same = int(dev.argmax()) == int(ref.argmax())
    return {"checked": True, "passed": bool(same and diff <= tol), "against": against, "max_abs_diff": diff,
            "tolerance": tol, "logit_spread": scale, "argmax_match": same, "device_logits": dev.tolist(),
            "expected_logits": ref.tolist()}


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
    local = bundle / meta["artifact"]["file"]
    si = sanity_input(bundle, meta, s.sentence)
    inputs = si.inputs
    remote = f"{workdir}/{safe_name(m.name)}{local.suffix}"
    transport.push(local, remote)
    m.runner = runner.name
    m.cooldown = _cooldown(transport, s)
    m.thermal_before = transport.thermal()
    argv = runner.command(transport, workdir, remote, local, inputs, s)
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

def _plan(bundles: list[Path], teacher_of: dict[Path, Path]) -> list[Measurement]:
    """Teachers first (each once), then the candidates; a bundle that is a teacher is measured once."""
    metas = {p: load_bundle(p) for p in {*bundles, *teacher_of.values()}}
    plan: dict[Path, Measurement] = {}
    names: set[str] = set()

    def unique(name: str) -> str:
        base, n = name, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        return name

    for t in dict.fromkeys(teacher_of.values()):
        plan[t] = _measurement(t, metas[t], "teacher", unique(f"teacher/{t.name}"))
    every = [*bundles, *dict.fromkeys(teacher_of.values())]
    clash = {b.name for b in bundles if sum(o.name == b.name for o in every) > 1}
    for b in bundles:
        if b not in plan:  # same folder names (teacher/ and student/ exports): say which parent
            plan[b] = _measurement(b, metas[b], "candidate", unique(f"{b.parent.name}/{b.name}" if b.name in clash else b.name))
        if plan[b].role == "candidate":
            plan[b].teacher = plan[teacher_of[b]].name
    return list(plan.values())


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
        formats = {format_of(b / m["artifact"]["file"]) for b, m in metas.items()}
        runners = {fmt: select_runner(fmt, transport, info, probe, s.runner, s.benchmark_model) for fmt in sorted(formats)}
        teacher_of = resolve_teachers(metas, teachers, out_dir / "teachers", s.teacher_eval_limit)
        report.measurements = _plan(bundles, teacher_of)
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
