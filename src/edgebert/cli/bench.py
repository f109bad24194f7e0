"""`edgebert devices` and `edgebert bench`: where to measure, and the measurement next to the teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, out, user_errors


@app.command()
@user_errors
def devices() -> None:
    """List devices to benchmark on: the host, adb devices, configured ssh hosts, browsers."""
    from rich.table import Table

    from edgebert.devices import discover_all
    from edgebert.devices.browser import discover as browsers

    t = Table(title="devices (use with `edgebert bench --device`)", title_justify="left")
    for col in ("device", "kind", "note"):
        t.add_column(col)
    for spec, kind, note in discover_all() + browsers():
        t.add_row(spec, kind, note)
    out.print(t)

@app.command()
@user_errors
def bench(
    bundles: list[Path] = typer.Argument(..., help="Bundle folders written by `edgebert export`."),
    device: str = typer.Option("host", "--device", "-d", help="host | adb[:SERIAL] | ssh://user@host[:port] | browser (127.0.0.1 URL) | browser:lan (URL + QR code for a phone) | browser:chromium (headless Chromium here)."),
    runs: int = typer.Option(50, "--runs", help="At least this many timed runs ..."),
    min_seconds: float = typer.Option(2.0, "--min-seconds", help="... and at least this many seconds."),
    warmup: int = typer.Option(5, "--warmup", help="Untimed runs after the first inference."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Runtime threads [default: the runtime's]."),
    teacher: list[Path] = typer.Option([], "--teacher", help="fp32 teacher bundle of the same target "
                                       "[default: export the teacher]; repeatable, one per target."),
    out_dir: Path = typer.Option(Path("bench"), "--out", help="Folder for bench.json, bench.md, bench.png."),
    runner: str = typer.Option("auto", "--runner", help=".pte runner: auto | python | native."),
    benchmark_model: Optional[Path] = typer.Option(None, "--benchmark-model", help="TFLite's benchmark_model "
                                                   "binary for the device (Android .tflite)."),
    pin_cores: bool = typer.Option(False, "--pin-cores", help="Pin to the big cores with taskset."),
    cooldown_temp: Optional[float] = typer.Option(None, "--cooldown-temp", help="Wait until the device is "
                                                  "below this temperature (°C) before each artifact."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds one runner invocation may take."),
    sentence: Optional[str] = typer.Option(None, "--sentence", help="Text fed to the model, its logits checked "
                                           "against the host runtime [default: the bundle's recorded example, "
                                           "checked against the recorded PyTorch logits]."),
    allow_failed_gates: bool = typer.Option(False, "--allow-failed-gates", help="Measure bundles whose parity or "
                                            "accuracy gate failed (refused by default)."),
) -> None:
    """Latency, memory and size of bundles on a device, next to the fp32 teacher."""
    from edgebert.devices.bench import run_bench
    from edgebert.devices.bench_report import COLUMNS, table_row
    from edgebert.devices.settings import BenchSettings
    from rich.table import Table

    s = BenchSettings(runs=runs, min_seconds=min_seconds, warmup=warmup, threads=threads, timeout=timeout,
                      runner=runner, benchmark_model=benchmark_model, pin_cores=pin_cores,
                      cooldown_temp=cooldown_temp, sentence=sentence or None)
    report = run_bench(list(bundles), device, s, out_dir, teachers=list(teacher), allow_failed_gates=allow_failed_gates)
    t = Table(title=report.device.get("where", device), title_justify="left")
    keep = ["artifact", "precision", "size MB", "accuracy", "p50 ms", "p90 ms", "speedup vs teacher",
            "size ratio vs teacher", "logits check"]
    for col in keep:
        t.add_column(col.replace(" vs teacher", ""), overflow="fold")
    for m in report.measurements:
        row = dict(zip(COLUMNS, table_row(report, m)))
        t.add_row(*(row[c] for c in keep))
    out.print(t)
    out.print(f"report: {out_dir / 'bench.md'}, {out_dir / 'bench.json'}, {out_dir / 'bench.png'}")
