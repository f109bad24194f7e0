"""The one interface every export target implements.

A target turns an edgebert model into an artifact a phone runtime loads, runs it here when
its runtime exists (so gates can check it), and says what precision really runs inside.
Everything else (calibration data, gates, bundles, CLI) is shared and lives beside this.
"""

from __future__ import annotations

import platform
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, ClassVar, Protocol

import numpy as np
import torch

from edgebert.errors import EdgebertError

from .sequence import SequenceShape

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"


class Precision(str, Enum):
    """What numbers an artifact really computes with: the one vocabulary for precision.

    The CLI's ``--quantize`` names the same values, plus ``none`` for a target's float
    precision (fp32, or fp16 for Core ML): :meth:`Exporter.precision_for` is the one mapping."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"  # static: weights and activations, calibrated
    INT8_DYNAMIC = "int8-dynamic"  # weights int8, activations quantized at run time (ONNX)
    INT8_WEIGHTS = "int8-weights"  # weights stored int8, float compute (Core ML)

    def __str__(self) -> str:
        return self.value

    @property
    def is_float(self) -> bool:
        return self in (Precision.FP32, Precision.FP16)


FLOAT = "none"  # --quantize value for a target's float precision


class ExportError(EdgebertError):
    """A model or option a target cannot export (names the op or setting)."""


@dataclass
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name: int32, int64, float32, int8
    shape: list[int | str]  # str entries are symbolic (e.g. "batch", "seq")


@dataclass
class ExportRequest:
    """What to export. ``calibration`` batches are [1, seq_len] int64 tensors, already padded."""

    model: torch.nn.Module
    seq_len: int
    quantize: str  # one of the target's quantize_modes
    calibration: list[dict[str, torch.Tensor]]
    out_dir: Path  # an empty temp folder owned by the caller; write the artifact here
    float_modules: list[str] = field(default_factory=list)  # module names kept in float (sensitivity fallback)
    options: dict[str, Any] = field(default_factory=dict)

    def example_args(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = self.calibration[0] if self.calibration else None
        if b is None:
            ids = torch.ones((1, self.seq_len), dtype=torch.long)
            return ids, torch.ones_like(ids), torch.zeros_like(ids)
        return b["input_ids"], b["attention_mask"], b["token_type_ids"]


@dataclass
class Artifact:
    target: str
    path: Path  # file, or folder for .mlpackage
    precision: Precision
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # a torch callable with the artifact's numerics, when the artifact cannot run here (CoreML on Linux)
    reference: Callable[..., torch.Tensor] | None = None
    # output tensor quantization (scale, zero_point) when the model emits int8 (TFLite static int8)
    output_quantization: tuple[float, int] | None = None
    notes: list[str] = field(default_factory=list)
    quantization: dict[str, Any] = field(default_factory=dict)  # scheme details for metadata.json
    details: dict[str, Any] = field(default_factory=dict)  # facts only known at export time, for inspect()
    sequence: SequenceShape | None = None  # lengths it accepts; None: static at the request's seq_len


class Runner(Protocol):
    """Runs one padded example; returns float32 logits of shape [1, num_labels]."""

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray: ...


@dataclass
class Thresholds:
    """Parity gate for one precision: all must hold on the held-out examples.

    What a phone user sees is the label and its probability, so quantized artifacts gate on
    argmax agreement and on the mean change of the softmax probabilities. Logit cosine gates
    only with three or more classes: softmax ignores a shift of all logits, cosine does not,
    and for a two-class head with mirrored logits cosine is exactly 2*agreement-1 (a second,
    stricter copy of the agreement gate, not extra evidence). It is always reported."""

    max_abs_diff: float | None
    min_mean_cosine: float
    min_argmax_agreement: float
    max_mean_prob_diff: float | None = None


DEFAULT_THRESHOLDS = {
    Precision.FP32: Thresholds(1e-4, 0.99999, 0.999, 1e-5),
    Precision.FP16: Thresholds(5e-2, 0.999, 0.98, 0.01),
    Precision.INT8: Thresholds(None, 0.9, 0.90, 0.05),
    Precision.INT8_DYNAMIC: Thresholds(None, 0.9, 0.90, 0.05),
    Precision.INT8_WEIGHTS: Thresholds(None, 0.95, 0.95, 0.03),
}


# Float when quantizing unless a target says otherwise (only linears are quantized at all,
# see pt2e.linear_modules):
# - embeddings: the token/position sum is precision-sensitive and costs no matmul (ONNX and
#   TFLite store just the word table int8 per row, see onnx_embeddings / tflite_embeddings);
# - classifier: a negligible share of compute, the most int8-sensitive unit of the default
#   teacher when measured alone, and a float head gives float32 logits, which every
#   runtime (MediaPipe's TextClassifier included) accepts.
DEFAULT_FLOAT_MODULES = ("embeddings", "classifier")


class Exporter(ABC):
    """Subclass, set the class attributes, decorate with ``@register_exporter``."""

    target: ClassVar[str]
    suffix: ClassVar[str]  # ".pte", ".tflite", ".mlpackage", ".onnx"
    precisions: ClassVar[tuple[Precision, ...]]  # what it can produce; the first is its float precision
    export_modules: ClassVar[tuple[str, ...]]  # imported to export
    runtime_modules: ClassVar[tuple[str, ...]] = ()  # imported to run here
    install_hint: ClassVar[str] = "pip install -e . (edgebert's default install includes every target)"
    runs_on: ClassVar[tuple[str, ...]] = ("Linux", "Darwin", "Windows")
    # Everything the other wings need to know about a target lives here, so adding a target is
    # one file in exporters/targets/ plus its device loader in devices/runners/loaders/.
    format: ClassVar[str]  # short artifact kind the device harness keys on ("pte", "onnx", ...)
    libraries: ClassVar[tuple[str, ...]] = ()  # pip names doctor checks and bundles record
    runtime_pip: ClassVar[str | None] = None  # what a Linux board installs to run it (None: no Python runtime)
    android_runner: ClassVar[str | None] = None  # "native" (C++ runner) | "benchmark_model" | None
    android_hint: ClassVar[str] = "benchmark another target on Android"
    runs_in_browser: ClassVar[bool] = False  # the web demo and the browser device can load it
    colour: ClassVar[str] = "#7f7f7f"  # in the reports' plots
    default_float_modules: ClassVar[tuple[str, ...]] = DEFAULT_FLOAT_MODULES  # --keep-float adds to these

    @property
    def float_precision(self) -> Precision:
        return self.precisions[0]

    @property
    def quantize_modes(self) -> tuple[str, ...]:
        """The ``--quantize`` values this target takes: ``none`` (its float precision) first."""
        return (FLOAT, *(p.value for p in self.precisions if not p.is_float))

    def precision_for(self, quantize: str | Precision) -> Precision:
        """``--quantize`` (or a run recipe's precision) -> the precision this target produces."""
        value = str(quantize)
        if value == FLOAT or (Precision(value).is_float if value in Precision._value2member_map_ else False):
            return self.float_precision
        if value not in self.quantize_modes:
            raise ExportError(f"target {self.target} does not support --quantize {value}",
                              f"use one of {', '.join(self.quantize_modes)}")
        return Precision(value)

    def can_run_here(self) -> bool:
        return platform.system() in self.runs_on

    def thresholds(self, precision: str | Precision) -> Thresholds:
        return DEFAULT_THRESHOLDS[Precision(precision)]

    def finalize_bundle(self, bundle_dir: Path, artifact_file: Path, labels: list[str]) -> list[str]:
        """Target-specific additions once tokenizer files and labels sit next to the artifact
        (e.g. TFLite metadata); returns notes for metadata.json."""
        return []

    @abstractmethod
    def export(self, req: ExportRequest) -> Artifact:
        """Write the artifact into ``req.out_dir`` and describe it."""

    @abstractmethod
    def runner(self, artifact: Artifact) -> Runner:
        """A callable running the artifact in its own runtime (only if ``can_run_here``)."""

    @abstractmethod
    def inspect(self, artifact: Artifact) -> dict[str, Any]:
        """What really runs: delegation share, tensor types, op precision census or QDQ coverage.

        Must include ``"summary"`` (one sentence a user reads) and ``"int8_share"`` (0..1 of
        the compute ops / weights that really run in int8; 0 for float artifacts)."""
