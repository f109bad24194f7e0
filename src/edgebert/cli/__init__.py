"""The `edgebert` command: a thin layer over the Python API, one module per command.

Importing a command module registers its command on :data:`common.app`; nothing outside
this package imports from it.
"""

from __future__ import annotations

# each module registers its command on import; this order is the order `edgebert --help` lists them
from . import run, compress, export, bench, demo, eval, teacher, doctor  # noqa: F401, I001
from .common import app, main

__all__ = ["app", "main"]
