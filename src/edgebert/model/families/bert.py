"""BERT and its layout twins (MiniLM, TinyBERT, all-MiniLM, BERT-base...)."""

from __future__ import annotations

from . import register_family
from .base import Family


@register_family
class Bert(Family):
    name = "bert"
    model_types = ("bert",)
    prefix = "bert."
