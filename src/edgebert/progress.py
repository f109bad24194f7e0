"""One look for progress bars across edgebert's long-running steps."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


def progress(transient: bool = True, enabled: bool | None = None) -> Progress:
    """Bars go to stderr so JSON on stdout stays clean; hidden when not on a terminal."""
    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=console, transient=transient,
        disable=(not sys.stderr.isatty()) if enabled is None else not enabled,
    )
