"""The three kinds of on-device program: the Python script, the native runner, benchmark_model.

Each knows which files to push once per session, the command for one artifact, and how to
read the answer back into a :class:`RunnerResult`. The Python script and the native runner
share one command line (``--model --input-ids ... --threads``), so they parse the same way.
"""

from __future__ import annotations

import json
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ..base import RunnerResult, Transport
from .benchmark_model import parse_benchmark_model

INPUT_FLAGS = {"input_ids": "--input-ids", "attention_mask": "--attention-mask", "token_type_ids": "--token-type-ids"}


def contract_args(model: str, inputs: dict[str, np.ndarray], s) -> list[str]:
    """The command line bench_script.py and the native runner both accept."""
    args = ["--model", model]
    for name, flag in INPUT_FLAGS.items():
        args += [flag, ",".join(str(int(v)) for v in np.asarray(inputs[name]).reshape(-1))]
    return args + ["--warmup", str(s.warmup), "--runs", str(s.runs), "--min-seconds", f"{s.min_seconds:g}",
                   "--threads", str(s.threads or 0)]


class DeviceRunner(ABC):
    name: ClassVar[str]

    @abstractmethod
    def files(self) -> list[Path]:
        """Local files pushed once into the device's scratch folder."""

    def remote(self, workdir: str, local: Path) -> str:
        return f"{workdir}/{local.name}"

    def install(self, transport: Transport, workdir: str) -> None:
        for f in self.files():
            transport.push(f, self.remote(workdir, f))

    # times real sentences at their own lengths (--inputs-file) besides the padded input
    times_samples: ClassVar[bool] = False

    @abstractmethod
    def command(self, transport: Transport, workdir: str, model_remote: str, local_artifact: Path,
                inputs: dict[str, np.ndarray], settings, samples: list[dict] | None = None) -> list[str]: ...

    def parse(self, stdout: str, stderr: str, settings) -> RunnerResult:
        return RunnerResult.parse(stdout)


class PythonRunner(DeviceRunner):
    name = "python"
    times_samples = True

    def __init__(self, python: list[str], script: Path, loaders: list[Path] = ()):
        self.python, self.script, self.loaders = python, script, list(loaders)

    def files(self) -> list[Path]:
        return [self.script, *self.loaders]

    def command(self, transport, workdir, model_remote, local_artifact, inputs, settings, samples=None) -> list[str]:
        argv = [*self.python, self.remote(workdir, self.script), *contract_args(model_remote, inputs, settings)]
        if samples:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "inputs.json"
                local.write_text(json.dumps(samples))
                remote = f"{workdir}/{local_artifact.stem}-inputs.json"
                transport.push(local, remote)
            argv += ["--inputs-file", remote]
        return argv

    def probe_command(self, workdir: str) -> list[str]:
        return [*self.python, self.remote(workdir, self.script), "--probe"]


class NativeBinaryRunner(DeviceRunner):
    """The C++ runner from ``edgebert.devices.native`` (same command line as the script).

    ``libs`` travel with the binary (a board without the build's paths) and are found
    through ``env LD_LIBRARY_PATH=<scratch folder>``."""

    name = "native"

    def __init__(self, binary: Path, libs: tuple[Path, ...] = (), parse: Callable[[str], RunnerResult] | None = None):
        self.binary, self.libs, self._parse = Path(binary), tuple(libs), parse

    def files(self) -> list[Path]:
        return [self.binary, *self.libs]

    def install(self, transport, workdir) -> None:
        super().install(transport, workdir)
        transport.run(["chmod", "755", self.remote(workdir, self.binary)], timeout=30)

    def command(self, transport, workdir, model_remote, local_artifact, inputs, settings, samples=None) -> list[str]:
        env = ["env", f"LD_LIBRARY_PATH={workdir}"] if self.libs else []
        return [*env, self.remote(workdir, self.binary), *contract_args(model_remote, inputs, settings)]

    def parse(self, stdout, stderr, settings) -> RunnerResult:
        return (self._parse or RunnerResult.parse)(stdout)


def tflite_input_tensors(artifact: Path) -> dict[str, tuple[str, np.dtype]]:
    """Signature input name -> (tensor name, dtype), read on the host with ai_edge_litert."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(artifact))
    sigs = interp.get_signature_list()
    run = interp.get_signature_runner("serving_default" if "serving_default" in sigs else next(iter(sigs)))
    by_index = {d["index"]: d["name"] for d in interp.get_input_details()}
    return {n: (by_index.get(d["index"], n), np.dtype(d["dtype"])) for n, d in run.get_input_details().items()}


class BenchmarkModelRunner(DeviceRunner):
    """TFLite's official ``benchmark_model`` binary (user-supplied; Android's usual .tflite tool).

    It is fed the same encoded sentence as the other runners through raw input files; it
    prints no logits, so the harness cannot check its outputs."""

    name = "benchmark_model"

    def __init__(self, binary: Path):
        self.binary = binary

    def files(self) -> list[Path]:
        return [self.binary]

    def install(self, transport, workdir) -> None:
        super().install(transport, workdir)
        transport.run(["chmod", "755", self.remote(workdir, self.binary)], timeout=30)

    def command(self, transport, workdir, model_remote, local_artifact, inputs, settings, samples=None) -> list[str]:
        files = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, (tensor, dtype) in tflite_input_tensors(local_artifact).items():
                raw = Path(tmp) / f"{name}.raw"
                raw.write_bytes(np.ascontiguousarray(np.asarray(inputs[name]), dtype=dtype).tobytes())
                dest = f"{workdir}/{local_artifact.stem}-{raw.name}"
                transport.push(raw, dest)
                files.append(f"{tensor.replace(':', '::')}:{dest}")  # benchmark_model escapes ':' in names as '::'
        argv = [self.remote(workdir, self.binary), f"--graph={model_remote}", f"--warmup_runs={settings.warmup}",
                f"--num_runs={settings.runs}", f"--min_secs={settings.min_seconds:g}",
                f"--input_layer_value_files={','.join(files)}"]
        return argv + ([f"--num_threads={settings.threads}"] if settings.threads else [])

    def parse(self, stdout, stderr, settings) -> RunnerResult:
        return parse_benchmark_model(stdout + "\n" + stderr, settings.threads)
