"""Compression front end: distillation, LayerDrop + layer selection, head pruning, augmentation.

``compress(teacher_dir, data, recipe, out)`` runs a recipe (a YAML path, a shipped name
such as ``tinybert-4l``, ``triple`` or ``heads-50``, or a parsed :class:`Recipe`) and writes
an edgebert checkpoint plus ``compress_report.json``. Names load lazily so importing the
package stays cheap.
"""

from __future__ import annotations

__all__ = ["compress", "load_recipe", "parse_recipe", "shipped_recipes", "Recipe"]


def __getattr__(name: str):
    if name == "compress":
        from .run_recipe import compress

        return compress
    if name in ("load_recipe", "parse_recipe", "shipped_recipes", "Recipe"):
        from . import recipe

        return getattr(recipe, name)
    raise AttributeError(name)
