"""Programs that run one artifact on a device, and which one each (platform, format) gets.

    Linux (host, ssh boards)   .onnx, .tflite, .pte -> bench_script.py (Python runtimes);
                               .pte with --runner native -> the native C++ runner
    Android (adb)              .pte -> native runner; .tflite -> TFLite's benchmark_model
                               (--benchmark-model PATH); .onnx -> none here (says how to get one)
    anywhere                   .mlpackage -> none (Core ML runs on Apple devices only)

A missing runner or runtime is a :class:`RunnerMissing` raised before anything is measured.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..base import DeviceInfo, RunnerMissing, Transport
from .programs import BenchmarkModelRunner, DeviceRunner, NativeRunner, PythonRunner

SCRIPT = Path(__file__).with_name("bench_script.py")
FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".pte": "pte", ".mlpackage": "coreml"}
RUNTIME_OF = {"onnx": "onnxruntime", "tflite": "ai_edge_litert", "pte": "executorch"}
PIP_NAME = {"onnx": "onnxruntime", "tflite": "ai-edge-litert", "pte": "executorch"}
RUNNER_CHOICES = ("auto", "python", "native")


def is_android(info: DeviceInfo) -> bool:
    return info.kind == "adb" or info.os.lower().startswith("android")


def native_binary(info: DeviceInfo) -> tuple[Path, object]:
    """The native .pte runner for this device's ABI, from ``edgebert.devices.native``.

    That module provides ``runner_binary(abi) -> Path`` (building it if needed, raising
    RunnerMissing when it cannot) and optionally ``parse_output(stdout) -> RunnerResult``."""
    try:
        native = importlib.import_module("edgebert.devices.native")
    except ImportError:
        raise RunnerMissing("the native ExecuTorch runner is not part of this edgebert install",
                            "use --runner python, or build devices/native with CMake (see its README)") from None
    get = getattr(native, "runner_binary", None)
    if get is None:
        raise RunnerMissing("edgebert.devices.native has no runner_binary()", "use --runner python")
    return Path(get(info.abi)), getattr(native, "parse_output", None)


def select_runner(fmt: str, transport: Transport, info: DeviceInfo, probe: dict | None, choice: str = "auto",
                  benchmark_model: Path | None = None) -> DeviceRunner:
    """``probe`` is bench_script.py --probe's JSON from the device (None: no Python there)."""
    if choice not in RUNNER_CHOICES:
        raise RunnerMissing(f"unknown --runner {choice}", f"use one of {', '.join(RUNNER_CHOICES)}")
    if fmt == "coreml":
        raise RunnerMissing("Core ML models run only on Apple devices",
                            "measure the .mlpackage with Xcode's Core ML performance report on a Mac/iPhone")
    android = is_android(info)
    if fmt == "tflite" and benchmark_model is not None:
        return BenchmarkModelRunner(Path(benchmark_model))
    if fmt == "pte" and (choice == "native" or (choice == "auto" and android)):
        binary, parse = native_binary(info)
        return NativeRunner(binary, parse)
    if fmt == "pte" and choice == "auto" and not _has(probe, fmt):
        try:  # no executorch in the device's Python: the native runner needs none
            binary, parse = native_binary(info)
            return NativeRunner(binary, parse)
        except RunnerMissing:
            pass  # report the Python runtime as missing: the commoner fix
    if android:
        if fmt == "tflite":
            raise RunnerMissing("no .tflite runner for Android given",
                                "pass --benchmark-model PATH to TFLite's benchmark_model for arm64 (prebuilt "
                                "nightly: see tensorflow.org/lite/performance/measurement, or bazel build "
                                "-c opt --config=android_arm64 tensorflow/lite/tools/benchmark:benchmark_model)")
        raise RunnerMissing(f"no {fmt} runner for Android here",
                            "onnxruntime_perf_test must be built from the onnxruntime sources with the NDK; "
                            "benchmark the .pte or .tflite bundle instead")
    if not _has(probe, fmt):
        py = " ".join(transport.python_command() or ["python3"])
        why = "no Python on the device" if probe is None else (
            probe.get(f"{RUNTIME_OF[fmt]}_error") or f"{RUNTIME_OF[fmt]} is not installed")
        raise RunnerMissing(f"cannot run .{fmt} on {info.name}: {why}",
                            f"on the device: {py} -m pip install numpy {PIP_NAME[fmt]} "
                            "(or set EDGEBERT_REMOTE_PYTHON to a Python that has it)")
    return PythonRunner(transport.python_command() or ["python3"], SCRIPT)


def _has(probe: dict | None, fmt: str) -> bool:
    return bool(probe and probe.get("numpy") and probe.get(RUNTIME_OF[fmt]))


__all__ = ["BenchmarkModelRunner", "DeviceRunner", "FORMATS", "NativeRunner", "PythonRunner", "RUNNER_CHOICES",
           "SCRIPT", "is_android", "native_binary", "select_runner"]
