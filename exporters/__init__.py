"""Per-target exporters (``edgebert.exporters``).

Each target is one module in ``edgebert.exporters.targets``; the registry finds them, so
adding a target is adding one file with an ``@register_exporter`` class.
"""

from __future__ import annotations

from edgebert.registry import Registry

from .base import Artifact, Exporter, ExportError, ExportRequest, Runner, TensorSpec, Thresholds

_TARGETS: Registry[type[Exporter]] = Registry(f"{__name__}.targets", "target")
register_exporter = _TARGETS.register
unregister_exporter = _TARGETS.unregister


def target_names() -> list[str]:
    """In a stable, documented order (the order of the CLI's --target choices)."""
    return _TARGETS.names(order=["executorch", "tflite", "coreml", "onnx"])


def exporters() -> list[Exporter]:
    """Every registered target, in :func:`target_names` order."""
    return [get_exporter(t) for t in target_names()]


def exporter_for(path_or_suffix: str) -> Exporter | None:
    """The target whose artifacts end in this suffix (``.onnx``, ``model.pte``...), if any."""
    suffix = "." + str(path_or_suffix).rsplit(".", 1)[-1] if "." in str(path_or_suffix) else str(path_or_suffix)
    return next((e for e in exporters() if e.suffix == suffix), None)


def get_exporter(target: str) -> Exporter:
    classes = _TARGETS.classes()
    if target not in classes:
        raise ExportError(f"unknown target '{target}'", f"use one of {', '.join(target_names())} or all")
    return classes[target]()


__all__ = ["Artifact", "Exporter", "ExportError", "ExportRequest", "Runner", "TensorSpec", "Thresholds",
           "register_exporter", "unregister_exporter", "get_exporter", "target_names", "exporters", "exporter_for"]
