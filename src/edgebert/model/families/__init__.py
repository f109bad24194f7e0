"""Encoder families (``model/families``): one module per family, each an adapter that maps a
Hugging Face checkpoint's weight names and config onto edgebert's one encoder.

Adding a family is adding one file with a ``@register_family`` class; nothing else lists them.
"""

from __future__ import annotations

from edgebert.errors import CheckpointError
from edgebert.registry import Registry

from .base import Family

_FAMILIES: Registry[type[Family]] = Registry(__name__, "name")
register_family = _FAMILIES.register


def families() -> list[Family]:
    return [cls() for _, cls in sorted(_FAMILIES.classes().items())]


def supported_model_types() -> list[str]:
    return sorted(t for f in families() for t in f.model_types)


def family_for(model_type: str | None, architectures: list[str] | None = None) -> Family:
    for fam in families():
        if model_type in fam.model_types:
            return fam
    raise CheckpointError(
        f"unsupported encoder family (model_type '{model_type}', architectures {architectures or 'unknown'})",
        f"edgebert reads {', '.join(supported_model_types())}")


__all__ = ["Family", "families", "family_for", "register_family", "supported_model_types"]
