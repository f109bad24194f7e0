"""Programs that run one artifact on a device, and which one each (platform, format) gets.

    Linux (host, ssh boards)   bench_script.py with the target's loader_<format>.py (its Python
                               runtime); .pte with --runner native -> the native C++ runner
    Android (adb)              the target's ``android_runner``: the native .pte runner, or TFLite's
                               benchmark_model (--benchmark-model PATH); none -> says how to get one
    no loader, no runner       e.g. .mlpackage: Core ML runs on Apple devices only

What a target needs is declared on its exporter class (``edgebert.exporters``: suffix,
format, runtime, Android runner); its device-side loader is ``loader_<format>.py`` here.
A missing runner or runtime is a :class:`RunnerMissing` raised before anything is measured.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..base import DeviceInfo, RunnerMissing, Transport
from .programs import BenchmarkModelRunner, DeviceRunner, NativeBinaryRunner, PythonRunner

SCRIPT = Path(__file__).with_name("bench_script.py")
RUNNER_CHOICES = ("auto", "python", "native")
_EXTRA_LOADERS: dict[str, Path] = {}  # format -> loader file registered at run time (tests, plug-ins)


def formats() -> dict[str, str]:
    """Artifact suffix -> format, for every registered target."""
    from edgebert.exporters import exporters

    return {e.suffix: e.format for e in exporters()}


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix
    return formats().get(suffix, suffix.lstrip("."))


def register_loader(fmt: str, path: Path) -> None:
    """A device loader that does not live in this folder (a target added by a plug-in)."""
    _EXTRA_LOADERS[fmt] = Path(path)


def loader_file(fmt: str) -> Path | None:
    path = _EXTRA_LOADERS.get(fmt) or Path(__file__).with_name(f"loader_{fmt}.py")
    return path if path.is_file() else None


def loader_files() -> list[Path]:
    return [f for fmt in sorted(set(formats().values())) if (f := loader_file(fmt)) is not None]


def _loader_facts(fmt: str) -> tuple[str, str]:
    """(runtime module, pip name) a loader declares, read without importing its runtime."""
    import ast

    doc = {}
    for node in ast.parse(loader_file(fmt).read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            doc.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return str(doc["RUNTIME"]).split(".")[0], str(doc["PIP"])


def _exporter(fmt: str):
    from edgebert.exporters import exporters

    return next((e for e in exporters() if e.format == fmt), None)


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
    nr = native.native_runner(info.abi, android=is_android(info), with_libs=transport.kind != "host")
    return NativeBinaryRunner(nr.binary, tuple(nr.libs))


def select_runner(fmt: str, transport: Transport, info: DeviceInfo, probe: dict | None, choice: str = "auto",
                  benchmark_model: Path | None = None) -> DeviceRunner:
    """``probe`` is bench_script.py --probe's JSON from the device (None: no Python there)."""
    if choice not in RUNNER_CHOICES:
        raise RunnerMissing(f"unknown --runner {choice}", f"use one of {', '.join(RUNNER_CHOICES)}")
    exporter = _exporter(fmt)
    if exporter is None:
        raise RunnerMissing(f"no target makes .{fmt} artifacts", "bench bundles written by `edgebert export`")
    android = is_android(info)
    if exporter.android_runner is None and loader_file(fmt) is None:
        why, _, how = exporter.android_hint.partition(": ")
        raise RunnerMissing(f"no runner for {exporter.target} artifacts here: {why}", how or None)
    if exporter.android_runner == "benchmark_model" and benchmark_model is not None:
        return BenchmarkModelRunner(Path(benchmark_model))
    if exporter.android_runner == "native" and (choice == "native" or (choice == "auto" and android)):
        return native_program(info, transport)
    if exporter.android_runner == "native" and choice == "auto" and not _has(probe, fmt):
        try:  # no runtime in the device's Python: the native runner needs none
            return native_program(info, transport)
        except RunnerMissing:
            pass  # report the Python runtime as missing: the commoner fix
    if android:
        if exporter.android_runner == "benchmark_model":
            raise RunnerMissing(f"no .{fmt} runner for Android given",
                                "pass --benchmark-model PATH to TFLite's benchmark_model for arm64 (prebuilt "
                                "nightly: see tensorflow.org/lite/performance/measurement, or bazel build "
                                "-c opt --config=android_arm64 tensorflow/lite/tools/benchmark:benchmark_model)")
        raise RunnerMissing(f"no {fmt} runner for Android here", exporter.android_hint)
    if loader_file(fmt) is None:
        raise RunnerMissing(f"no Python runner for {exporter.target} artifacts", exporter.android_hint)
    if not _has(probe, fmt):
        module, pip = _loader_facts(fmt)
        py = " ".join(transport.python_command() or ["python3"])
        why = "no Python on the device" if probe is None else (
            probe.get(f"{module}_error") or f"{module} is not installed")
        raise RunnerMissing(f"cannot run .{fmt} on {info.name}: {why}",
                            f"on the device: {py} -m pip install numpy {pip} "
                            "(or set EDGEBERT_REMOTE_PYTHON to a Python that has it)")
    return PythonRunner(transport.python_command() or ["python3"], SCRIPT, loader_files())


def _has(probe: dict | None, fmt: str) -> bool:
    return bool(probe and probe.get("numpy") and loader_file(fmt) is not None and probe.get(_loader_facts(fmt)[0]))


__all__ = ["BenchmarkModelRunner", "DeviceRunner", "NativeBinaryRunner", "PythonRunner", "RUNNER_CHOICES",
           "format_of", "formats", "loader_file", "loader_files", "register_loader",
           "SCRIPT", "is_android", "native_program", "select_runner"]
