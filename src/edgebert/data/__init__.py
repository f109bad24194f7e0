"""Labelled text: loaders, splits, tokenization and the calibration sampler.

Names load on first use (PEP 562), so light modules such as ``data.columns`` (read by the
CLI's help) do not pull in torch and pandas.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "CalibrationSet": "calibration", "sample_calibration": "calibration",
    "Encoded": "encoding", "encode": "encoding", "load_tokenizer": "encoding",
    "Example": "examples", "LabelledData": "examples", "examples_hash": "examples",
    "Columns": "columns", "load_labelled": "loaders",
    "SPLIT_NAMES": "splits", "Splits": "splits", "split": "splits",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
