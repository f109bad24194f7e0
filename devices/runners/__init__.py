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
from .programs import BenchmarkModelRunner, DeviceRunner, NativeBinaryRunner, PythonRunner

SCRIPT = Path(__file__).with_name("bench_script.py")
FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".pte": "pte", ".mlpackage": "coreml"}
RUNTIME_OF = {"onnx": "onnxruntime", "tflite": "ai_edge_litert", "pte": "executorch"}
PIP_NAME = {"onnx": "onnxruntime", "tflite": "ai-edge-litert", "pte": "executorch"}
RUNNER_CHOICES = ("auto", "python", "native")


def is_android(info: DeviceInfo) -> bool:
    return info.kind == "adb" or info.os.lower().startswith("android")


def native_program(info: DeviceInfo, transport: Transport) -> NativeBinaryRunner:
    """The native .pte runner for this device's ABI, from ``edgebert.devices.native``.

    ``native_runner(abi, android=, with_libs=)`` builds it (cached) or raises RunnerMissing
    saying how to get one (e.g. the NDK build for Android); ``with_libs`` lists the shared
    libraries that must travel to a device other than this machine."""
    try:
        native = importlib.import_module("edgebert.devices.native")
    except ImportError:
        raise RunnerMissing("the native ExecuTorch runner is not part of this edgebert install",
                            "use --runner python, or build devices/native with CMake (see its README)") from None
    parse = getattr(native, "parse_output", None)
    if hasattr(native, "native_runner"):
        nr = native.native_runner(info.abi, android=is_android(info), with_libs=transport.kind != "host")
        return NativeBinaryRunner(nr.binary, tuple(getattr(nr, "libs", ())), parse)
    if hasattr(native, "runner_binary"):
        return NativeBinaryRunner(native.runner_binary(info.abi), (), parse)
    raise RunnerMissing("edgebert.devices.native provides no runner", "use --runner python")


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
        return native_program(info, transport)
    if fmt == "pte" and choice == "auto" and not _has(probe, fmt):
        try:  # no executorch in the device's Python: the native runner needs none
            return native_program(info, transport)
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


__all__ = ["BenchmarkModelRunner", "DeviceRunner", "FORMATS", "NativeBinaryRunner", "PythonRunner", "RUNNER_CHOICES",
           "SCRIPT", "is_android", "native_program", "select_runner"]
