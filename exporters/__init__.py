"""Per-target exporters (``edgebert.exporters``).

Each target is one module in ``edgebert.exporters.targets``; the registry finds them, so
adding a target is adding one file with an ``@register_exporter`` class.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Artifact, Exporter, ExportError, ExportRequest, Runner, TensorSpec, Thresholds

_REGISTRY: dict[str, type[Exporter]] = {}
_DISCOVERED = False


def register_exporter(cls: type[Exporter]) -> type[Exporter]:
    _REGISTRY[cls.target] = cls
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    from . import targets

    for mod in pkgutil.iter_modules(targets.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{targets.__name__}.{mod.name}")
    _DISCOVERED = True


def target_names() -> list[str]:
    """In a stable, documented order (the order of the CLI's --target choices)."""
    _discover()
    order = ["executorch", "tflite", "coreml", "onnx"]
    return sorted(_REGISTRY, key=lambda t: (order.index(t) if t in order else len(order), t))


def get_exporter(target: str) -> Exporter:
    _discover()
    if target not in _REGISTRY:
        raise ExportError(f"unknown target '{target}'", f"use one of {', '.join(target_names())} or all")
    return _REGISTRY[target]()


__all__ = ["Artifact", "Exporter", "ExportError", "ExportRequest", "Runner", "TensorSpec", "Thresholds",
           "register_exporter", "get_exporter", "target_names"]
