"""`edgebert eval`: accuracy, macro-F1, size and CPU latency of a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import EdgebertError
from .common import LABEL_COLUMN_HELP, PAIR_COLUMN_HELP, TEXT_COLUMN_HELP, app, out, user_errors


@app.command("eval")
@user_errors
def eval_cmd(
    model: Optional[Path] = typer.Argument(None, help="edgebert or Hugging Face classifier folder, or "
                                           "a shipped teacher (mpnet-base, minilm-l6) [default: mpnet-base, built "
                                           "and cached on first use]"),
    data: Optional[Path] = typer.Option(None, "--data", help="CSV/TSV/JSONL file or datasets folder "
                                        "[default: packaged Rotten Tomatoes, only with the default model]"),
    splits: str = typer.Option("dev,test", "--splits", help="Comma-separated splits to evaluate."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Max tokens [default: the model's, else 128]."),
    seed: int = typer.Option(0, "--seed", help="Split seed (use the one the model was trained with)."),
    latency_runs: int = typer.Option(30, "--latency-runs", help="Timed batch-1 runs (0 to skip)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help=PAIR_COLUMN_HELP),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
) -> None:
    """Accuracy and macro-F1 per split, parameters, size on disk and CPU latency of a model."""
    from ..data import Columns, split
    from ..evaluation import EVAL_FORMAT, evaluate
    from ..fsutil import atomic_write_json, check_output_file
    from ..inputs import resolve

    if json_out is not None:
        check_output_file(json_out, "--json", EVAL_FORMAT)
    if seq_len is not None and seq_len < 8:
        raise EdgebertError(f"--seq-len {seq_len} is too short", "use at least 8 tokens, or omit it for the model's")
    if latency_runs < 0:
        raise EdgebertError(f"--latency-runs {latency_runs} is negative", "use 0 to skip the latency measurement")
    inputs = resolve(model, data, Columns(text_column, text_pair_column, label_column))
    model, labelled = inputs.model_dir, inputs.data
    positions = inputs.model.config.max_seq_len
    seq_len = seq_len if seq_len is not None else min(inputs.recorded_seq_len or 128, positions)
    if seq_len > positions:
        raise EdgebertError(f"--seq-len {seq_len} exceeds the model's {positions} positions",
                            f"use --seq-len {positions} or less")
    names = [s.strip() for s in splits.split(",") if s.strip()]
    parts = split(labelled, seed=seed)
    for n in names:
        parts.get(n)  # validate before the slow work
    report = evaluate(model, parts, names, max_seq_len=seq_len, latency_runs=latency_runs)

    t = Table(title=Path(model).name, title_justify="left")
    for col in ("split", "examples", "accuracy", "macro-F1", "truncated"):
        t.add_column(col, justify="right")
    for s in report.splits:
        t.add_row(s.split, str(s.examples), f"{s.accuracy:.4f}", f"{s.macro_f1:.4f}", str(s.truncated))
    out.print(t)
    out.print(f"parameters {report.parameters:,}  |  weights on disk {report.size_bytes / 1e6:.1f} MB  |  "
              f"labels {', '.join(report.labels)}")
    if report.latency:
        lat = report.latency
        out.print(f"latency (batch 1, {lat.seq_len} tokens, {lat.threads} threads, {report.where}): "
                  f"p50 {lat.p50_ms:.2f} ms, p90 {lat.p90_ms:.2f} ms over {lat.runs} runs")
    if json_out:
        atomic_write_json(json_out, report.to_dict())
        out.print(f"report written to {json_out}")
