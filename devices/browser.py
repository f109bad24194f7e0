"""The browser device: `edgebert bench BUNDLE --device browser[:chromium]`.

A browser has no shell to push a runner to, so it is not a Transport: edgebert serves the
bench page (demo_app/web/bench.html) with the bundle; the page loads it, runs first
inference, warmup and timed runs (>= runs AND >= min_seconds, as every other device) and
POSTs its samples back. ``browser`` prints the URL (and a QR code with --lan) for a phone
to open; ``browser:chromium`` opens it in this machine's headless Debian Chromium as a
Pixel 7 (desktop numbers, real browser runtime). The browser's user agent and
cross-origin-isolation state are recorded with the result.
"""

from __future__ import annotations

import os
import queue
import subprocess
import time
from pathlib import Path

from edgebert.errors import EdgebertError

from .base import DeviceGone, DeviceTimeout, RunnerCrashed, RunnerResult
from .settings import BenchSettings

KINDS = ("browser", "browser:chromium")


def _stats(times_ms: list[float]) -> dict:
    from .runners.bench_script import stats_ms

    return stats_ms([t / 1000.0 for t in times_ms])


def to_result(doc: dict, fmt: str) -> RunnerResult:
    """The page's POSTed JSON as the harness's RunnerResult."""
    if not doc.get("ok"):
        raise RunnerCrashed(f"the browser could not run the model: {doc.get('error', 'unknown error')}",
                            f"browser: {doc.get('user_agent', '?')}")
    times = [float(t) for t in doc.get("times_ms") or []]
    if not times:
        raise RunnerCrashed("the browser posted no timed runs", "reload the bench page")
    heap = doc.get("js_heap_bytes")
    return RunnerResult(
        format=fmt, runtime=f"{doc.get('engine')} ({doc.get('backend')}) in a browser", threads=doc.get("threads"),
        load_ms=float(doc.get("load_ms") or 0.0), first_inference_ms=float(doc.get("first_ms") or 0.0),
        warmup_runs=int(doc.get("warmup_runs") or 0), runs=len(times), seconds=sum(times) / 1000.0,
        latency_ms=_stats(times), peak_rss_mb=None, outputs=list(doc.get("logits") or []),
        extra={"user_agent": doc.get("user_agent"), "cross_origin_isolated": doc.get("cross_origin_isolated"),
               "engine": doc.get("engine"), "backend": doc.get("backend"),
               "js_heap_mb": round(heap / 2**20, 1) if heap else None,
               "memory_note": "JS heap only (the WASM memory and the browser process are not visible to a page)"})


def _open_chromium(url: str, timeout: float) -> None:
    from edgebert.demo.server import demo_app_dir

    app = demo_app_dir()
    env = {**os.environ, "EDGEBERT_E2E_TIMEOUT_MS": str(int(timeout * 1000))}
    try:
        proc = subprocess.run(["node", str(app / "e2e" / "run.mjs"), "bench", url], cwd=app, env=env,
                              capture_output=True, text=True, timeout=timeout + 60)
    except FileNotFoundError:
        raise EdgebertError("node is not installed", "install Node.js 18+ (Debian: apt install nodejs)") from None
    except subprocess.TimeoutExpired:
        raise DeviceTimeout(f"headless Chromium did not finish in {timeout:.0f} s", "raise --timeout") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DeviceGone(f"headless Chromium failed: {last[:200]}",
                         "check /usr/bin/chromium (or EDGEBERT_CHROMIUM) and `npm ci` in demo_app")


def measure_in_browser(bundle: Path, meta: dict, s: BenchSettings, device: str, lan: bool = False) -> tuple[RunnerResult, dict]:
    """Serve the bench page for ``bundle`` until a browser posts a result; returns it and the browser facts."""
    from edgebert.demo.server import DemoServer, demo_app_dir, lan_address
    from edgebert.progress import console

    cfg = {"warmup": s.warmup, "runs": s.runs, "min_seconds": s.min_seconds, "text": s.sentence, "threads": s.threads}
    server = DemoServer(bundle, demo_app_dir(), mode="bench", bench=cfg, host="0.0.0.0" if lan else "127.0.0.1")
    with server:
        url = f"{server.url}bench.html"
        if device == "browser:chromium":
            _open_chromium(url, s.timeout)
        else:
            if lan:
                url = f"http://{lan_address()}:{server.port}/bench.html"
                _print_qr(url)
            console.print(f"open [bold]{url}[/] on the phone (waiting up to {s.timeout:.0f} s)")
        t0 = time.monotonic()
        try:
            doc = server.results.get(timeout=max(1.0, s.timeout - (time.monotonic() - t0)))
        except queue.Empty:
            raise DeviceTimeout(f"no browser posted a result within {s.timeout:.0f} s",
                                "open the printed URL on the phone, or raise --timeout") from None
    res = to_result(doc, meta["target"])
    return res, {"user_agent": doc.get("user_agent"), "cross_origin_isolated": doc.get("cross_origin_isolated")}


def _print_qr(url: str) -> None:
    try:
        import qrcode
    except ImportError:
        return
    qr = qrcode.QRCode(border=1)
    qr.add_data(url)
    qr.print_ascii(invert=True)


def run_browser_bench(bundles: list[Path], device: str, s: BenchSettings, out_dir: Path, teachers: list[Path],
                      lan: bool = False):
    """``run_bench`` for a browser: teachers first, same report."""
    from edgebert.progress import console

    from .bench import BenchReport, _plan, encode_sentence, host_reference, load_bundle, sanity
    from .report import write_report
    from .teacher import resolve_teachers

    if device not in KINDS:
        raise EdgebertError(f"unknown browser device '{device}'", f"use one of {', '.join(KINDS)}")
    metas = {b: load_bundle(b) for b in bundles}
    for b, m in metas.items():
        if m["target"] not in ("onnx", "tflite"):
            raise EdgebertError(f"{b.name}: a {m['target']} bundle cannot run in a browser", "bench onnx or tflite bundles")
    t0 = time.time()
    where = ("headless Chromium on this host (Pixel 7 profile; host CPU)" if device == "browser:chromium"
             else "a browser (see its user agent)")
    report = BenchReport(device={"spec": device, "kind": "browser", "where": where, "emulated": False, "cores": None},
                         settings=s.to_dict())
    teacher_of = resolve_teachers(metas, teachers, out_dir / "teachers", s.teacher_eval_limit)
    report.measurements = _plan(bundles, teacher_of)
    failure = None
    try:
        for m in report.measurements:
            bundle = Path(m.bundle)
            meta = load_bundle(bundle)
            console.print(f"{m.name}: measuring in {device}")
            res, facts = measure_in_browser(bundle, meta, s, device, lan)
            report.device.update({"user_agent": facts["user_agent"],
                                  "cross_origin_isolated": facts["cross_origin_isolated"]})
            m.runner, m.result, m.status = "browser", res.to_dict(), "measured"
            inputs = encode_sentence(bundle, int(meta["seq_len"]), s.sentence)
            m.sanity = sanity(res.outputs, host_reference(bundle, meta, inputs), m.precision)
        report.complete = True
    except (DeviceGone, DeviceTimeout, RunnerCrashed) as exc:
        failure, report.error = exc, exc.one_line()
        for m in report.measurements:
            if m.status == "pending":
                m.status, m.error = "failed", exc.one_line()
                break
    report.seconds = round(time.time() - t0, 1)
    write_report(report, out_dir)
    if failure is not None:
        raise type(failure)(f"{failure.message}; partial report in {out_dir}", failure.hint)
    return report
