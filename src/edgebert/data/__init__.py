"""Labelled text: loaders, splits, tokenization and the calibration sampler."""

from .calibration import CalibrationSet, sample_calibration
from .encoding import Encoded, encode, load_tokenizer
from .examples import Example, LabelledData, examples_hash
from .loaders import Columns, load_labelled
from .splits import SPLIT_NAMES, Splits, split

__all__ = [
    "Example", "LabelledData", "examples_hash", "Columns", "load_labelled", "Splits", "split", "SPLIT_NAMES",
    "Encoded", "encode", "load_tokenizer", "CalibrationSet", "sample_calibration",
]
