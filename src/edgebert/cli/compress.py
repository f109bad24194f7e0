"""`edgebert compress` and `edgebert recipes`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import LABEL_COLUMN_HELP, PAIR_COLUMN_HELP, TEXT_COLUMN_HELP, app, out, user_errors


@app.command()
@user_errors
def compress(
    out_dir: Path = typer.Option(..., "--out", help="Folder for the student checkpoint + compress_report.json."),
    recipe: str = typer.Option("tinybert-4l", "--recipe",
                               help="Recipe YAML path or a shipped name (see `edgebert recipes`)."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Teacher folder (edgebert, a supported "
                                           "family, or any HF *ForSequenceClassification) or a shipped teacher: "
                                           "mpnet-base, minilm-l6 [default: mpnet-base]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled CSV/TSV/JSONL file or datasets folder "
                                        "[default: packaged Rotten Tomatoes, only with the default teacher]"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Cap every training stage at N steps "
                                            "(quick runs)."),
    max_train_examples: Optional[int] = typer.Option(None, "--max-train-examples",
                                                     help="Train on a seeded subsample of N examples."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the recipe's seed."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every",
                                                   help="Checkpoint every N steps [default: the recipe's]."),
    latency_runs: int = typer.Option(20, "--latency-runs", help="Timed batch-1 CPU runs per model (0 to skip)."),
    keep_work: bool = typer.Option(False, "--keep-work", help="Keep OUT/.work (stage results, checkpoints)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an unfinished run in OUT/.work and start over."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help=PAIR_COLUMN_HELP),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
) -> None:
    """Distil / LayerDrop / prune a teacher into a small student, following a recipe.

    Re-running the same command after an interruption resumes from the last checkpoint.
    On several GPUs: accelerate launch -m edgebert compress ... (same options).
    """
    from ..compression.recipe import load_recipe
    from ..compression.run_recipe import REPORT_NAME, compress as run_compress
    from ..compression.teacher_model import load_teacher
    from ..data import Columns
    from ..errors import EdgebertError
    from ..fsutil import check_output_dir
    from ..inputs import resolve

    for name, value in (("--max-steps", max_steps), ("--max-train-examples", max_train_examples),
                        ("--checkpoint-every", checkpoint_every)):
        if value is not None and value <= 0:
            raise EdgebertError(f"{name} must be positive, got {value}", f"omit {name} or pass N > 0")
    parsed = load_recipe(recipe)  # fail on a bad recipe before any slow work
    check_output_dir(out_dir, "--out")
    inputs = resolve(teacher, data, Columns(text_column, text_pair_column, label_column), load=load_teacher)
    report = run_compress(inputs.model_dir, inputs.data, parsed, out_dir, max_steps=max_steps,
                          max_train_examples=max_train_examples, seed=seed, checkpoint_every=checkpoint_every,
                          latency_runs=latency_runs, keep_work=keep_work, fresh=fresh)
    _print_summary(report, out_dir / REPORT_NAME)


@app.command()
@user_errors
def recipes() -> None:
    """List the compression recipes shipped with edgebert."""
    from rich.table import Table

    from ..compression.recipe import shipped_recipes

    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column("recipe", no_wrap=True, style="bold")
    t.add_column("what it does")
    for name, desc in shipped_recipes().items():
        t.add_row(name, desc)
    out.print(t)


def _print_summary(report: dict, path: Path) -> None:
    from rich.table import Table

    t = Table(title="compression result", title_justify="left")
    for col in ("model", "layers", "params", "MB", "dev acc", "test acc", "p50 ms"):
        t.add_column(col, justify="right")
    for name in ("teacher", "student"):
        r = report[name]
        lat = r.get("latency") or {}
        layers = str(r.get("layers", ""))
        t.add_row(name, layers, f"{r['parameters']:,}", f"{r['size_bytes'] / 1e6:.1f}", f"{r['dev']['accuracy']:.4f}",
                  f"{r['test']['accuracy']:.4f}", f"{lat['p50_ms']:.2f}" if lat else "-")
    out.print(t)
    for note in report.get("notes", []):
        out.print(f"note: {note}")
    out.print(f"report written to {path}")
