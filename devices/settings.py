"""How a benchmark is run: the knobs `edgebert bench` exposes, in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .base import DeviceError

# Fed only to bundles without a recorded reference (reference.json), whose example 0 is fed
# otherwise. A real review-like sentence: latency does not depend on the words at a static
# seq len, but the sanity check compares real logits, which padding-only inputs would not exercise.
DEFAULT_SENTENCE = "A gripping, beautifully acted film that stays with you long after the credits roll."


@dataclass
class BenchSettings:
    runs: int = 50  # at least this many timed runs ...
    min_seconds: float = 2.0  # ... and at least this long (MLPerf Mobile / benchmark_model style)
    warmup: int = 5
    threads: int | None = None  # None: the runtime's default
    timeout: float = 600.0  # per runner invocation
    runner: str = "auto"  # .pte: auto | python | native
    benchmark_model: Path | None = None  # TFLite's benchmark_model binary for the device
    pin_cores: bool = False  # taskset to the big cores where the device can
    cooldown_temp: float | None = None  # wait until the device is below this (°C) before each artifact
    cooldown_max_seconds: float = 600.0
    cooldown_poll_seconds: float = 10.0
    sentence: str | None = None  # None: the bundle's recorded reference example (see sanity.sanity_input)
    teacher_eval_limit: int | None = None  # test examples for an auto-exported teacher's gates

    def validate(self) -> "BenchSettings":
        if self.runs < 1:
            raise DeviceError(f"--runs must be at least 1 (got {self.runs})")
        if self.min_seconds < 0 or self.warmup < 0:
            raise DeviceError("--min-seconds and --warmup cannot be negative")
        if self.threads is not None and self.threads < 1:
            raise DeviceError(f"--threads must be at least 1 (got {self.threads})", "omit it for the runtime default")
        if self.runner not in ("auto", "python", "native"):
            raise DeviceError(f"unknown --runner {self.runner}", "use one of auto, python, native")
        if self.timeout <= 0:
            raise DeviceError("--timeout must be positive")
        if self.benchmark_model is not None and not Path(self.benchmark_model).is_file():
            raise DeviceError(f"--benchmark-model {self.benchmark_model} is not a file",
                              "pass the path of TFLite's benchmark_model binary built for the device")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["benchmark_model"] = str(self.benchmark_model) if self.benchmark_model else None
        return d
