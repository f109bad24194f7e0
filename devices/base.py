"""The one interface every device transport and every runner speaks.

A *transport* moves files to a device and runs commands there (host, adb, ssh, browser).
A *runner* is a program on the device that loads one artifact, times it, and prints one
JSON line in the :class:`RunnerResult` schema; the harness never trusts a runner's prose.
Keeping both small means adding a device is one module under ``transports/``.
"""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from edgebert.errors import EdgebertError


class DeviceError(EdgebertError):
    """A device that is missing, unreachable or misconfigured."""


class DeviceGone(DeviceError):
    """The device disappeared mid-run (adb disconnect, ssh drop)."""


class DeviceTimeout(DeviceError):
    """A command on the device ran past its time limit."""


class RunnerMissing(DeviceError):
    """No runner for this artifact format on this device; the hint says how to get one."""


class RunnerCrashed(DeviceError):
    """The runner exited non-zero or printed no result line."""


@dataclass
class DeviceInfo:
    """Where a number was measured, so no host number is ever mistaken for a phone number."""

    kind: str  # host | adb | ssh | browser
    name: str  # hostname, adb serial, user@host:port, user agent
    model: str  # "Pixel 7", "Raspberry Pi 4 Model B", CPU model name on x86
    os: str  # "Android 14 (API 34)", "Debian GNU/Linux 12", ...
    abi: str  # x86_64 | arm64-v8a | aarch64 | ...
    cores: int | None = None
    emulated: bool = False  # e.g. aarch64 userland under qemu-user: outputs are real, timings are not
    thermal: dict = field(default_factory=dict)  # battery temperature, thermal status, where readable
    extra: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        what = f"{self.kind} {self.model} ({self.abi}, {self.os})"
        return what + (", EMULATED: timings are not device timings" if self.emulated else "")

    def to_dict(self) -> dict:
        return asdict(self) | {"where": self.where}


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class Transport(ABC):
    """Push, run, pull, describe, clean up. Subclasses register with ``@register_transport``.

    ``spec`` strings are what users type after ``--device``: ``host``, ``adb``, ``adb:SERIAL``,
    ``ssh://user@host[:port]``, ``browser``.
    """

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def accepts(cls, spec: str) -> bool:
        """Whether ``spec`` names a device of this kind."""

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: str) -> "Transport": ...

    @classmethod
    def discover(cls) -> list[str]:
        """Specs of connected/configured devices of this kind, for ``edgebert devices``."""
        return []

    @abstractmethod
    def describe(self) -> DeviceInfo: ...

    @abstractmethod
    def workdir(self) -> str:
        """A scratch directory on the device, created on first use and removed by ``cleanup``."""

    @abstractmethod
    def push(self, local: Path, remote: str) -> None: ...

    @abstractmethod
    def pull(self, remote: str, local: Path) -> None: ...

    @abstractmethod
    def run(self, argv: list[str], timeout: float) -> CommandResult:
        """Run on the device; raise DeviceTimeout / DeviceGone, never hang."""

    @abstractmethod
    def cleanup(self) -> None:
        """Remove everything this session pushed. Must not raise if the device is gone."""

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    @staticmethod
    def quote(argv: list[str]) -> str:
        return " ".join(shlex.quote(a) for a in argv)

    # ---- optional hooks: harmless defaults, overridden where the device can do better ----

    def python_command(self) -> list[str] | None:
        """The Python interpreter (with runtimes) that runs the pushed benchmark script; None: no Python."""
        return ["python3"]

    def thermal(self) -> dict:
        """Temperatures/status where readable; ``temperature_c`` is the one cool-down waits on."""
        return {}

    def big_cores(self) -> list[int]:
        """CPU ids of the fastest cluster (empty: unknown)."""
        return []

    def pin_prefix(self, cores: list[int]) -> list[str] | None:
        """argv prefix that pins a command to ``cores`` (None: this device cannot pin)."""
        return None

    @property
    def leftover(self) -> str | None:
        """What ``cleanup`` could not remove because the device was unreachable; None when clean."""
        return None


def taskset_prefix(cores: list[int]) -> list[str]:
    """``taskset MASK``: the hex-mask form both util-linux and Android's toybox accept."""
    return ["taskset", format(sum(1 << c for c in cores), "x")]


@dataclass
class RunnerResult:
    """The JSON line every runner prints last (Python script, native C++ runner, browser page).

    Latencies in milliseconds. ``outputs`` are the logits of the last run, so the harness can
    check the device computed the same thing as the gates did.
    """

    format: str  # onnx | tflite | pte
    runtime: str  # "onnxruntime 1.31.1", "executorch 1.4.1 (native, XNNPACK)", ...
    threads: int | None
    load_ms: float
    first_inference_ms: float
    warmup_runs: int
    runs: int
    seconds: float
    latency_ms: dict  # p50, p90, p99, mean, std, min, max
    peak_rss_mb: float | None
    outputs: list = field(default_factory=list)
    real_lengths: dict | None = None  # latency over real sentences at their own lengths (dynamic artifacts)
    extra: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, stdout: str) -> "RunnerResult":
        """The last line of stdout that is a JSON object; anything else is a crash."""
        for line in reversed(stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    break
                extra = doc.pop("extra", {})
                known = {k: doc.pop(k) for k in list(doc) if k in cls.__dataclass_fields__}
                return cls(**known, extra={**extra, **doc})
        tail = " ".join(stdout.strip().splitlines()[-1:]) or "no output"
        raise RunnerCrashed("runner printed no result line", f"last output: {tail[:200]}")

    def to_dict(self) -> dict:
        return asdict(self)
