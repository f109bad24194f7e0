"""The `edgebert` command: a thin layer over the Python API.

User mistakes surface as one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import EdgebertError

app = typer.Typer(
    name="edgebert", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Compress a fine-tuned BERT-family classifier and ship it to phones.",
)
# Piped to a file, tables keep their rows whole instead of wrapping at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)


def _quiet_libraries(verbose: bool = False) -> None:
    """The export stacks print lines a user cannot act on; silence them at the source where a
    library offers a switch (set before it is imported), and capture the rest (``edgebert.quiet``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from . import quiet

    if verbose or quiet.verbose():
        os.environ[quiet.VERBOSE_ENV] = "1"  # read by edgebert.quiet wherever a library is called
        return
    for name, value in (
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),  # transformers' "Writing model shards" bar
        ("TQDM_DISABLE", "1"),  # tqdm bars of coremltools and others (read when tqdm is imported)
        ("LITERT_TORCH_SHOW_PROGRESS", "n"),  # litert-torch's "(00:03) [START] LiteRT-Torch Convert" lines
        ("TF_CPP_MIN_LOG_LEVEL", "2"),  # TensorFlow Lite converter INFO/WARNING lines
        ("GLOG_minloglevel", "2"),
    ):
        os.environ.setdefault(name, value)
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="coremltools")
    for name in ("torchao", "torch.utils._pytree", "coremltools", "executorch", "torch.onnx", "onnxscript",
                 "onnxruntime", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    quiet.quiet_imports()


def user_errors(fn):
    """Turn EdgebertError into one line + exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgebertError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.one_line())}", soft_wrap=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except OSError as exc:
            line = disk_error(exc)
            if line is None:
                raise
            err.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def disk_error(exc: OSError) -> str | None:
    """One line for a full, read-only or forbidden disk met mid-run (None: not one of those)."""
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on the device{where} (free some space and run the same command again: "
                "finished steps are kept and nothing half-written was left)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write{where or ' an output'}: {exc.strerror} (choose a writable output path)"
    return None


def _columns_help() -> tuple[str, str, str]:
    from .data.columns import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS

    def first(names):
        return f"[default: the first of {', '.join(names)}]"

    return (f"Data column holding the text {first(TEXT_COLUMNS)}.",
            f"Data column holding the second text of a pair {first(PAIR_COLUMNS)}, none if absent.",
            f"Data column holding the label name {first(LABEL_COLUMNS)}.")


TEXT_COLUMN_HELP, PAIR_COLUMN_HELP, LABEL_COLUMN_HELP = _columns_help()


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"edgebert {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", help="Show everything the export libraries print "
                                 "(hidden by default; a failing call's last lines go into its error)."),
) -> None:
    _quiet_libraries(verbose)


@app.command()
@user_errors
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check versions, which targets can export and run here, and which device tools exist."""
    from .doctor import run_doctor
    from .progress import console

    with console.status("importing export toolchains..."):
        rep = run_doctor()
    if as_json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        out.print(f"edgebert {rep.edgebert} on Python {rep.python}, {rep.platform}")
        t = Table(title="packages", title_justify="left")
        for col in ("package", "installed", "tested pin", ""):
            t.add_column(col)
        for p in rep.packages:
            mark = "[green]ok[/]" if p.ok else ("[red]missing[/]" if p.installed is None else "[yellow]differs[/]")
            t.add_row(p.name, p.installed or "-", p.pinned or "-", mark)
        out.print(t)
        t = Table(title="targets", title_justify="left")
        for col in ("target", "export", "run here", "detail"):
            t.add_column(col)
        for tg in rep.targets:
            t.add_row(tg.target, "[green]yes[/]" if tg.can_export else "[red]no[/]",
                      "[green]yes[/]" if tg.can_run else "[yellow]no[/]", tg.detail)
        out.print(t)
        from .doctor import TOOLS

        t = Table(title="device tools", title_justify="left")
        for col in ("tool", "found", "used for"):
            t.add_column(col)
        for tool, path in rep.tools.items():
            t.add_row(tool, path or "[yellow]not found[/]", TOOLS[tool])
        out.print(t)
        for what, where in rep.assets.items():
            out.print(f"default asset: {what}: {where}")
        out.print("[green]environment OK[/]" if rep.healthy else
                  "[red]environment has problems[/]: reinstall with `make setup` (or pip install -e .)")
    raise typer.Exit(0 if rep.healthy else 1)


def _resolve_data(data: Optional[Path], text_col, pair_col, label_col, label_names):
    """The user's labelled file, or the packaged Rotten Tomatoes snippets when none is given."""
    from .data import Columns, load_labelled

    if data is None:
        from .data.default import load_rotten_tomatoes

        return load_rotten_tomatoes()
    return load_labelled(data, Columns(text_col, pair_col, label_col), label_names=label_names)


def resolve_model_and_data(model: Optional[Path], data: Optional[Path], text_col=None, pair_col=None,
                           label_col=None, data_flag: str = "--data"):
    """The model folder (default: embedded teacher) and its labelled data.

    Data defaults to the packaged Rotten Tomatoes only for models trained on it."""
    from .data.default import ROTTEN_SOURCE
    from .model import load_model

    default_model = model is None
    if default_model:
        from .teacher import default_teacher

        model = default_teacher()
    loaded = load_model(model, require_head=True)
    recorded = loaded.config.provenance.get("head_training", {})
    if data is None and not (default_model or str(recorded.get("data", "")).startswith(ROTTEN_SOURCE)):
        raise EdgebertError("no labelled data given for this model", f"pass {data_flag} FILE with labelled examples")
    return Path(model), loaded, _resolve_data(data, text_col, pair_col, label_col, loaded.config.label_names)


@app.command("eval")
@user_errors
def eval_cmd(
    model: Optional[Path] = typer.Argument(None, help="edgebert or Hugging Face BERT checkpoint folder "
                                           "[default: the embedded teacher, built and cached on first use]"),
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
    from .data import split
    from .evaluation import EVAL_FORMAT, evaluate
    from .fsutil import atomic_write_json, check_output_file

    if json_out is not None:
        check_output_file(json_out, "--json", EVAL_FORMAT)
    if seq_len is not None and seq_len < 8:
        raise EdgebertError(f"--seq-len {seq_len} is too short", "use at least 8 tokens, or omit it for the model's")
    if latency_runs < 0:
        raise EdgebertError(f"--latency-runs {latency_runs} is negative", "use 0 to skip the latency measurement")
    model, loaded, labelled = resolve_model_and_data(model, data, text_column, text_pair_column, label_column)
    recorded = loaded.config.provenance.get("head_training", {})
    positions = loaded.config.max_position_embeddings
    seq_len = seq_len if seq_len is not None else min(int(recorded.get("max_seq_len", 128)), positions)
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


@app.command()
@user_errors
def teacher(
    out_dir: Path = typer.Option(..., "--out", help="Folder for the teacher checkpoint."),
    base: Optional[Path] = typer.Option(None, "--base", help="HF BERT-family encoder folder "
                                        "[default: packaged all-MiniLM-L6-v2]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Labelled data [default: packaged Rotten Tomatoes]."),
    seq_len: int = typer.Option(64, "--seq-len"),
    pooling: str = typer.Option("mean", "--pooling", help="mean (sentence encoders) or cls (BERT pooler)."),
    top_layers: int = typer.Option(2, "--top-layers", help="Top layers fine-tuned with the head (0: head only)."),
    epochs: int = typer.Option(2, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
    text_column: Optional[str] = typer.Option(None, "--text-column", help=TEXT_COLUMN_HELP),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help=PAIR_COLUMN_HELP),
    label_column: Optional[str] = typer.Option(None, "--label-column", help=LABEL_COLUMN_HELP),
) -> None:
    """Give a pretrained BERT encoder a classification head on your data (a cheap teacher)."""
    from .assets import default_encoder_dir
    from .teacher import TeacherConfig, train_head

    from .fsutil import check_output_dir

    cfg = TeacherConfig(max_seq_len=seq_len, pooling=pooling, seed=seed, finetune_top_layers=top_layers,
                        finetune_epochs=epochs)
    check_output_dir(out_dir, "--out")
    labelled = _resolve_data(data, text_column, text_pair_column, label_column, None)
    info = train_head(base or default_encoder_dir(), labelled, out_dir, cfg)
    out.print(f"teacher written to {info['out']}: dev accuracy {info['dev_accuracy']:.4f} in {info['seconds']} s")


def _register_subcommands() -> None:
    """Each feature area adds its own commands, so adding one is adding one module."""
    from .compression.cli import register as register_compression
    from .devices_cli import register as register_devices
    from .exporters_cli import register as register_export
    from .demo_cli import register as register_demo
    from .run_cli import register as register_run

    register_run(app)
    register_demo(app)
    register_compression(app)
    register_export(app)
    register_devices(app)


_register_subcommands()


def main() -> None:
    """The console script: usage errors get the same one ``error:`` line as edgebert's own."""

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # typer's click: UsageError, BadParameter, NoSuchOption ...
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # bare `edgebert`: the help
            typer.echo(ctx.get_help())
            sys.exit(2)
        message = " ".join(exc.format_message().split()) if hasattr(exc, "format_message") else str(exc)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        err.print(f"[bold red]error:[/] {escape(message)}{escape(where)}", soft_wrap=True, highlight=False)
        code = getattr(exc, "exit_code", 2)
    except typer.Abort:
        err.print("interrupted")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
