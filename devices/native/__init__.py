"""Build (once, cached) the native C++ ``.pte`` benchmark runner for a device ABI.

The runner links the runtime library the pinned executorch wheel ships, so it runs exactly
the kernels and XNNPACK delegate that ``executorch.runtime`` runs in Python, without Python
overhead. Builds are keyed by source hash + executorch version + ABI under
``edgebert.fsutil.cache_dir()/native``; a second call is a dictionary lookup on disk.

* ``x86_64``: the venv's own wheel, host ``g++``. RUNPATH points into the venv, so on this
  machine nothing has to travel with the binary.
* ``aarch64`` (Linux boards, qemu-user): Debian's ``aarch64-linux-gnu-g++`` against an aarch64
  executorch wheel unpacked with ``pip install --target`` (env ``EDGEBERT_AARCH64_SITE_PACKAGES``).
  It must be >= 1.5 (standalone ``lib/libexecutorch*.so``, ~13 MB to carry): 1.4.1's aarch64
  runtime links PyPI's aarch64 libtorch, which is a CUDA build. The runtime string in the JSON
  names the version actually linked.
* Android (``arm64-v8a``): a glibc binary does not run there; build with the NDK on your machine
  (``devices/native/README.md``) and point ``EDGEBERT_PTE_RUNNER`` at the result.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edgebert.fsutil import atomic_dir, cache_dir, sha256_text

from ..base import RunnerMissing

SOURCE_DIR = Path(__file__).resolve().parent
SOURCES = ("CMakeLists.txt", "pte_runner.cpp", "compat/pthreadpool.h")
BINARY = "pte_runner"
_SYSTEM_LIBS = re.compile(r"^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libutil|ld-linux[-\w]*)\.so")
_HOWTO_NDK = "build devices/native with the Android NDK (see devices/native/README.md) and set EDGEBERT_PTE_RUNNER"


@dataclass(frozen=True)
class NativeRunner:
    """A built runner plus what must travel with it to a device that lacks the build paths.

    On the device: push ``binary`` and every file in ``libs`` into one folder, then run
    ``env_prefix(folder) + argv(...)``; ``LD_LIBRARY_PATH`` makes the pushed libraries win.
    """

    binary: Path
    abi: str
    libs: tuple[Path, ...] = field(default_factory=tuple)

    def push_files(self) -> list[Path]:
        return [self.binary, *self.libs]

    def env_prefix(self, remote_dir: str) -> list[str]:
        return ["env", f"LD_LIBRARY_PATH={remote_dir}"] if self.libs else []

    @staticmethod
    def argv(binary: str, model: str, input_ids, attention_mask, token_type_ids, *, warmup: int = 3,
             runs: int = 20, min_seconds: float = 1.0, threads: int | None = None) -> list[str]:
        """The CLI contract shared with the Python runner; inputs are int sequences."""
        csv = lambda xs: ",".join(str(int(x)) for x in xs)  # noqa: E731
        return [binary, "--model", model, "--input-ids", csv(input_ids), "--attention-mask", csv(attention_mask),
                "--token-type-ids", csv(token_type_ids), "--warmup", str(warmup), "--runs", str(runs),
                "--min-seconds", str(min_seconds), "--threads", str(threads or 0)]


def emulator_prefix(abi: str) -> list[str] | None:
    """argv prefix that runs an ``abi`` binary on this machine under qemu-user (None: not needed or
    not installed). Results measured this way are emulated: outputs are real, timings are not."""
    abi = normalize_abi(abi)
    if abi == normalize_abi(platform.machine()):
        return None
    qemu, sysroot = shutil.which(f"qemu-{abi}-static") or shutil.which(f"qemu-{abi}"), Path(f"/usr/{abi}-linux-gnu")
    if qemu is None or not sysroot.is_dir():
        return None
    return ["env", f"QEMU_LD_PREFIX={sysroot}", qemu]


def normalize_abi(abi: str) -> str:
    a = abi.lower()
    if a in ("x86_64", "amd64", "x86-64"):
        return "x86_64"
    if a in ("aarch64", "arm64", "arm64-v8a"):
        return "aarch64"
    return a


def native_runner(abi: str | None = None, *, android: bool = False, with_libs: bool = False) -> NativeRunner:
    """The runner for ``abi`` (default: this machine), building it on first use.

    ``with_libs`` lists the shared libraries to push (only needed when the device is not this
    machine, e.g. an ssh board); on Android the NDK build from the README is required.
    """
    env_bin = os.environ.get("EDGEBERT_PTE_RUNNER")
    if env_bin:
        path = Path(env_bin)
        if not path.is_file():
            raise RunnerMissing(f"EDGEBERT_PTE_RUNNER={env_bin} does not exist", _HOWTO_NDK)
        return NativeRunner(path, normalize_abi(abi or platform.machine()))
    if android:
        raise RunnerMissing("no native .pte runner for Android", _HOWTO_NDK)
    abi = normalize_abi(abi or platform.machine())
    cfg = _toolchain(abi)
    binary = _build(abi, cfg)
    libs = tuple(_needed_libs(binary, cfg["lib_dirs"])) if with_libs else ()
    return NativeRunner(binary, abi, libs)


def runner_binary(abi: str | None = None) -> Path:
    """Path of the cached runner binary for ``abi``; builds it if needed."""
    return native_runner(abi).binary


def _executorch_version(et_dir: Path) -> str:
    text = (et_dir / "version.py").read_text() if (et_dir / "version.py").is_file() else ""
    m = re.search(r"__version__\s*=\s*['\"]([^'\"+]+)", text)
    return m.group(1) if m else "unknown"


def _toolchain(abi: str) -> dict:
    host = normalize_abi(platform.machine())
    if abi == host:
        import sysconfig

        import importlib.util

        spec = importlib.util.find_spec("executorch.version") if importlib.util.find_spec("executorch") else None
        if spec is None or not spec.origin:  # executorch is a namespace package: locate it by version.py
            raise RunnerMissing("executorch is not installed", "pip install executorch==1.4.1")
        et_dir = Path(spec.origin).resolve().parent
        libdir = Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent")
        names = [sysconfig.get_config_var(k) or "" for k in ("LDLIBRARY", "INSTSONAME")]  # .so, or .so.1.0 only
        pylib = next((libdir / n for n in names if ".so" in n and (libdir / n).is_file()), None)
        if pylib is None:
            raise RunnerMissing(f"this Python ({sys.executable}) has no shared libpython",
                                "use a Python built with --enable-shared (Debian's and pyenv's are)")
        cxx = "g++"
    elif abi == "aarch64" and host == "x86_64":
        site = os.environ.get("EDGEBERT_AARCH64_SITE_PACKAGES")
        how = ("pip install --target DIR --platform manylinux_2_28_aarch64 --python-version 3.11 --only-binary=:all: "
               "--no-deps executorch==1.5.1, then set EDGEBERT_AARCH64_SITE_PACKAGES=DIR (or run `make test-aarch64`)")
        if not site:
            raise RunnerMissing("no aarch64 executorch libraries to link the native runner against", how)
        et_dir, pylib, cxx = Path(site) / "executorch", None, "aarch64-linux-gnu-g++"
        if not list((et_dir / "lib").glob("libexecutorch*.so")):
            # 1.4.x has only the Python extension, linked to PyPI's aarch64 libtorch, which is a CUDA
            # build (libcudart, cuDNN, NCCL): far too much to carry to a board for a CPU runner.
            raise RunnerMissing(f"{et_dir} has no standalone lib/libexecutorch*.so (executorch < 1.5)", how)
    else:
        raise RunnerMissing(f"cannot build the native .pte runner for {abi} on {host}",
                            "supported: x86_64 and aarch64 (cross) from x86_64; " + _HOWTO_NDK)
    for tool, pkg in (("cmake", "cmake"), (cxx, "g++" if cxx == "g++" else "g++-aarch64-linux-gnu"),
                      ("readelf", "binutils")):
        if shutil.which(tool) is None:
            raise RunnerMissing(f"{tool} not found: cannot build the native .pte runner", f"apt-get install {pkg}")
    torch_lib = et_dir.parent / "torch" / "lib"
    lib_dirs = [et_dir / "lib", et_dir / "extension" / "pybindings", et_dir / "backends" / "qualcomm",
                et_dir / "kernels" / "quantized", torch_lib]
    lib_dirs += [pylib.parent] if pylib else []
    return {"et_dir": et_dir, "pylib": pylib, "cxx": cxx, "torch_lib": torch_lib, "lib_dirs": lib_dirs,
            "version": _executorch_version(et_dir)}


def _build(abi: str, cfg: dict) -> Path:
    texts = [(SOURCE_DIR / s).read_text() for s in SOURCES]
    key = sha256_text(*texts, cfg["version"], abi, str(cfg["et_dir"]), str(cfg["pylib"]))[:16]
    out = cache_dir() / "native" / f"{BINARY}-{abi}-{cfg['version']}-{key}"
    if (out / BINARY).is_file():
        return out / BINARY
    with atomic_dir(out) as tmp:
        build = tmp / "build"
        configure = ["cmake", "-S", str(SOURCE_DIR), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DCMAKE_CXX_COMPILER={cfg['cxx']}", f"-DEXECUTORCH_DIR={cfg['et_dir']}",
                     f"-DPYTHON_LIBRARY={cfg['pylib'] or ''}", f"-DEXTRA_LINK_DIRS={cfg['torch_lib']}",
                     f"-DET_VERSION={cfg['version']}"]
        if abi != normalize_abi(platform.machine()):
            configure += ["-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_SYSTEM_PROCESSOR={abi}"]
        for cmd in (configure, ["cmake", "--build", str(build), "-j1"]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                log = (proc.stdout + proc.stderr).strip().splitlines()
                errs = [line for line in log if "error" in line.lower()] or log[-1:] or ["no output"]
                raise RunnerMissing(f"building the native .pte runner failed: {errs[0].strip()[:300]}",
                                    f"rerun `{' '.join(cmd)}` to see the full log")
        shutil.copy2(build / BINARY, tmp / BINARY)
        shutil.rmtree(build, ignore_errors=True)
    for stale in out.parent.glob(f"{BINARY}-{abi}-*"):  # older sources or versions: rebuilt on demand
        if stale != out:
            shutil.rmtree(stale, ignore_errors=True)
    return out / BINARY


def _needed_libs(binary: Path, lib_dirs: list[Path]) -> list[Path]:
    """Non-system shared libraries the binary loads, found in ``lib_dirs`` (readelf is ABI-neutral)."""
    found: dict[str, Path] = {}
    todo = [binary]
    while todo:
        proc = subprocess.run(["readelf", "-d", str(todo.pop())], capture_output=True, text=True)
        for name in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", proc.stdout):
            if name in found or _SYSTEM_LIBS.match(name):
                continue
            path = next((d / name for d in lib_dirs if (d / name).is_file()), None)
            if path is None:
                raise RunnerMissing(f"the native runner needs {name}, not found in {', '.join(map(str, lib_dirs))}")
            found[name] = path.resolve()
            todo.append(path)
    return list(found.values())
