"""The typer app, its output consoles and its error handling, shared by every command module.

User mistakes surface as one ``error:`` line on stderr with exit code 2, never a traceback:
edgebert's own errors (:class:`EdgebertError`), click's usage errors, and a full, read-only
or forbidden disk met mid-run.
"""

from __future__ import annotations

import errno
import functools
import sys

import typer
from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..errors import EdgebertError
from ..quiet import quiet_libraries

app = typer.Typer(
    name="edgebert", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Compress a fine-tuned encoder classifier (BERT, DistilBERT, RoBERTa, MPNet, ELECTRA, ALBERT, MobileBERT) and ship it to phones.",
)
# Piped to a file, tables keep their rows whole instead of wrapping at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 1000)


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
    from ..data.columns import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS

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
    quiet_libraries(verbose)


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
