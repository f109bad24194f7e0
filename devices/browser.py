"""The browser device: `edgebert bench BUNDLE --device browser[:lan|:chromium]`.

A browser has no shell to push a runner to, so it is not a Transport: edgebert serves the
bench page (demo_app/web/bench.html) with the bundle; the page loads it, runs first
inference, warmup and timed runs (>= runs AND >= min_seconds, as every other device) and
POSTs its samples back. ``browser`` serves on 127.0.0.1 (a desktop browser, or a phone
through `adb reverse`); ``browser:lan`` serves on the LAN and prints a QR code for a phone;
``browser:chromium`` opens the page in this machine's headless Debian Chromium as a Pixel 7
(a real browser runtime on the host CPU: not phone numbers). One server and URL serve every
artifact in turn, so a phone only reloads the page between artifacts. The browser's user
agent, cross-origin isolation, engine, backend and threads are recorded with the result.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import time
from pathlib import Path

from edgebert.errors import EdgebertError

from .base import DeviceGone, DeviceTimeout, RunnerCrashed, RunnerResult
from .settings import BenchSettings

KINDS = ("browser", "browser:lan", "browser:chromium")
HEAP_NOTE = ("'peak RSS MB' is the page's JS heap (performance.memory), not process RSS: a page cannot see "
             "its WASM memory or the browser process")


def to_result(doc: dict, fmt: str, warmup: int) -> RunnerResult:
    """The page's POSTed JSON as the harness's RunnerResult (same statistics as every runner)."""
    from .runners.bench_script import stats_ms

    if not doc.get("ok"):
        raise RunnerCrashed(f"the browser could not run the model: {doc.get('error', 'unknown error')}",
                            f"browser: {doc.get('user_agent', '?')}")
    try:
        times = [float(t) for t in doc.get("times_ms") or []]
        load_ms, first_ms = float(doc["load_ms"]), float(doc["first_ms"])
        logits = [float(x) for x in doc.get("logits") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise RunnerCrashed(f"the bench page posted a malformed result ({exc})", "reload the bench page") from None
    if not times or min(times) < 0:
        raise RunnerCrashed("the bench page posted no valid timed runs", "reload the bench page")
    heap = doc.get("js_heap_bytes")
    return RunnerResult(
        format=fmt, runtime=f"{doc.get('engine')} ({doc.get('backend')}) in a browser", threads=doc.get("threads"),
        load_ms=load_ms, first_inference_ms=first_ms, warmup_runs=warmup, runs=len(times),
        seconds=sum(times) / 1000.0, latency_ms=stats_ms([t / 1000.0 for t in times]),
        peak_rss_mb=heap / 2**20 if isinstance(heap, (int, float)) and heap > 0 else None, outputs=logits,
        extra={"user_agent": doc.get("user_agent"), "cross_origin_isolated": doc.get("cross_origin_isolated"),
               "engine": doc.get("engine"), "backend": doc.get("backend"), "js_heap_bytes": heap,
               "memory_note": HEAP_NOTE if heap else None, "input_ids": doc.get("input_ids")})


def chromium_missing() -> str | None:
    """Why `browser:chromium` cannot run here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not installed (Debian: apt install nodejs)"
    exe = os.environ.get("EDGEBERT_CHROMIUM", "/usr/bin/chromium")
    if not Path(exe).exists():
        return f"{exe} is missing (Debian: apt install chromium; or set EDGEBERT_CHROMIUM)"
    try:
        from edgebert.demo.server import demo_app_dir

        demo_app_dir()
    except EdgebertError as exc:
        return exc.one_line()
    return None


def discover() -> list[tuple[str, str, str]]:
    """`edgebert devices` rows for the browser device kinds."""
    why = chromium_missing()
    return [("browser", "browser", "a browser opens the printed 127.0.0.1 URL (a phone: via adb reverse)"),
            ("browser:lan", "browser", "a phone on this network opens the printed URL / QR code"),
            ("browser:chromium", "browser", f"unavailable: {why}" if why else
             "headless Debian Chromium here as a Pixel 7 (host CPU: not phone numbers)")]


def _open_chromium(url: str, timeout: float) -> None:
    from edgebert.demo.server import demo_app_dir

    app = demo_app_dir()
    env = {**os.environ, "EDGEBERT_E2E_TIMEOUT_MS": str(int(timeout * 1000))}
    try:
        proc = subprocess.run(["node", str(app / "e2e" / "run.mjs"), "bench", url], cwd=app, env=env,
                              capture_output=True, text=True, timeout=timeout + 60, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise DeviceGone("node is not installed", "install Node.js 18+ (Debian: apt install nodejs)") from None
    except subprocess.TimeoutExpired:
        raise DeviceTimeout(f"headless Chromium did not finish in {timeout:.0f} s", "raise --timeout") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()] or ["no output"]
        err = next((ln for ln in lines if "Error" in ln), lines[-1]).strip()
        raise DeviceGone(f"headless Chromium failed: {err[:200]}",
                         "check /usr/bin/chromium (or EDGEBERT_CHROMIUM) and `npm ci` in demo_app/")


def _measure(server, bundle: Path, meta: dict, s: BenchSettings, device: str, url: str) -> tuple[RunnerResult, dict]:
    """Serve ``bundle`` until a browser posts its result."""
    from edgebert.progress import console

    server.serve_bundle(bundle)
    while not server.results.empty():  # a late post for the previous artifact
        server.results.get_nowait()
    if device == "browser:chromium":
        _open_chromium(url, s.timeout)
    else:
        console.print(f"{bundle.name}: open (or reload) [bold]{url}[/] (waiting up to {s.timeout:.0f} s)")
    try:
        doc = server.results.get(timeout=1.0 if device == "browser:chromium" else s.timeout)
    except queue.Empty:
        raise DeviceTimeout(f"no browser posted a result within {s.timeout:.0f} s",
                            "open the printed URL in a browser (or on the phone), or raise --timeout") from None
    return to_result(doc, meta.target, s.warmup), doc


def _sanity_input(bundle: Path, meta: dict, sentence: str | None):
    """sanity.sanity_input, as text: a recorded sentence pair falls back to the default sentence
    (the bench page tokenizes one text)."""
    from .sanity import sanity_input
    from .settings import DEFAULT_SENTENCE

    si = sanity_input(bundle, meta, sentence)
    if si.text is None:
        si = sanity_input(bundle, meta, DEFAULT_SENTENCE)
        si.note = "the recorded examples are sentence pairs, which the bench page cannot feed"
    return si


def check_browser(device: str, targets: list[str], names: list[str] | None = None) -> None:
    """The browser kind exists, can start here, and every target runs in a browser."""
    from edgebert.demo.server import browser_targets, demo_app_dir

    if device not in KINDS:
        raise EdgebertError(f"unknown browser device '{device}'", f"use one of {', '.join(KINDS)}")
    if device == "browser:chromium" and (why := chromium_missing()):
        raise EdgebertError(f"browser:chromium cannot run: {why}", "or bench with --device browser / browser:lan")
    for target, name in zip(targets, names or targets):
        if target not in browser_targets():
            raise EdgebertError(f"{name}: a {target} bundle cannot run in a browser",
                                f"bench {' or '.join(browser_targets())} bundles (and teachers) in a browser; the "
                                "others need their native runtimes")
    demo_app_dir()


def run_browser_bench(bundles: list[Path], device: str, s: BenchSettings, out_dir: Path, teachers: list[Path],
                      allow_failed_gates: bool = False):
    """``run_bench`` for a browser: teachers first, the same report and failure handling."""
    from edgebert.demo.server import DemoServer, demo_app_dir, lan_address, print_qr
    from edgebert.progress import console

    from .measurement import BenchReport, load_bundle, plan
    from .sanity import check_logits
    from .bench_report import write_report
    from .teacher_bundle import resolve_teachers

    every = [*bundles, *teachers]
    check_browser(device, [load_bundle(b).target for b in every], [Path(b).name for b in every])
    app = demo_app_dir()
    t0 = time.time()
    where = {"browser:chromium": "headless Chromium on this host (Pixel 7 profile, host CPU: not phone numbers)",
             "browser:lan": "a browser on the LAN", "browser": "a browser via 127.0.0.1"}[device]
    report = BenchReport(device={"spec": device, "kind": "browser", "where": where, "emulated": False, "cores": None,
                                 "memory_note": HEAP_NOTE}, settings=s.to_dict())
    metas = {b: load_bundle(b) for b in bundles}
    teacher_of = resolve_teachers(metas, teachers, out_dir / "teachers", s.teacher_eval_limit)
    report.measurements = plan(bundles, teacher_of)
    cfg = {"warmup": s.warmup, "runs": s.runs, "min_seconds": s.min_seconds, "text": None, "threads": s.threads}
    lan = device == "browser:lan"
    first = Path(report.measurements[0].bundle)
    failure = None
    with DemoServer(first, app, mode="bench", bench=cfg, host="0.0.0.0" if lan else "127.0.0.1",
                    allow_failed_gates=allow_failed_gates) as server:
        url = server.bench_url(lan_address() if lan else None)  # carries the token the page posts with
        if lan:
            print_qr(url)
        try:
            for m in report.measurements:
                bundle = Path(m.bundle)
                meta = load_bundle(bundle)
                console.print(f"{m.name}: measuring in {device}")
                si = _sanity_input(bundle, meta, s.sentence)
                server.bench["text"] = si.text  # the page tokenizes it itself
                res, doc = _measure(server, bundle, meta, s, device, url)
                m.result, m.status = res.to_dict(), "measured"
                m.runner = f"{doc.get('engine')} {doc.get('backend')} ×{doc.get('threads')}"
                isolated = doc.get("cross_origin_isolated") is True
                report.device.update({"name": doc.get("user_agent"), "user_agent": doc.get("user_agent"),
                                      "cross_origin_isolated": isolated,
                                      "where": f"{where}; {'' if isolated else 'NOT '}cross-origin isolated; "
                                               f"{HEAP_NOTE}"})
                report.device.setdefault("engines", {})[m.name] = {k: doc.get(k) for k in ("engine", "backend",
                                                                                            "threads")}
                m.sanity = check_logits(si, res.outputs, bundle, meta, m.precision)
                if doc.get("input_ids") is not None:  # the JS tokenizer fed the model what Python would
                    same = list(doc["input_ids"]) == si.inputs["input_ids"].reshape(-1).tolist()
                    m.sanity["same_input_ids"] = same
                    if not same and m.sanity.get("checked"):  # logits of other tokens prove nothing
                        m.sanity.update(passed=False, why="the page's tokenizer gave other input ids")
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
