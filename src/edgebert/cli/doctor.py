"""`edgebert doctor`: versions vs the tested pins, which targets export and run here, device tools."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .common import app, out, user_errors


@app.command()
@user_errors
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check versions, which targets can export and run here, and which device tools exist."""
    from ..doctor import TOOLS, run_doctor
    from ..progress import console

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
