"""Fixtures for the adb, native-runner and `edgebert demo --adb` tests, imported by those test
modules (``from adb_fixtures import adbd``; pyproject puts tests/ on the path).

The adb client talks to a private adb host server (its own port), so tests never touch a
developer's connected phones; the server is killed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


import adbd_server  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(tool: str, package: str) -> str:
    """Skip when a Debian tool is missing (the repo-root conftest.py fails that skip in CI)."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (apt-get install {package}; listed in .ci/apt-packages.txt)")
    return path


@pytest.fixture(scope="session")
def adb_server_port():
    """A private adb host server for this test session."""
    need("adb", "adb")
    old = os.environ.get("ANDROID_ADB_SERVER_PORT")
    port = str(free_port())
    os.environ["ANDROID_ADB_SERVER_PORT"] = port
    subprocess.run(["adb", "start-server"], capture_output=True, timeout=60)
    yield port
    subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)
    if old is None:
        os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
    else:
        os.environ["ANDROID_ADB_SERVER_PORT"] = old


@pytest.fixture
def adbd(adb_server_port, tmp_path):
    """A connected adb protocol test server (NOT Android) whose device filesystem is tmp_path/device."""
    server = adbd_server.AdbdServer(tmp_path / "device").start()
    out = subprocess.run(["adb", "connect", server.serial], capture_output=True, text=True, timeout=30)
    assert "connected" in out.stdout, out.stdout + out.stderr
    subprocess.run(["adb", "-s", server.serial, "wait-for-device"], capture_output=True, timeout=30)
    yield server
    server.kill()
    subprocess.run(["adb", "disconnect", server.serial], capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def pte_runner_build():
    """The native runner, built once per cache (keyed by source + executorch version)."""
    need("cmake", "cmake")
    need("g++", "g++")
    from edgebert.devices.native import native_runner

    return native_runner()


@pytest.fixture(scope="session")
def tiny_ptes(export_inputs, tmp_path_factory):
    """(name -> .pte, batches) for portable fp32, XNNPACK fp32, XNNPACK int8 (its word table on
    the quantized embedding_byte kernel) and an int32-input program."""
    import torch
    from edgebert.exporters import ExportRequest, get_exporter
    from executorch.exir import to_edge

    model, batches = export_inputs
    out = tmp_path_factory.mktemp("ptes")
    args = tuple(batches[0][k] for k in ("input_ids", "attention_mask", "token_type_ids"))
    paths = {"portable": out / "portable.pte", "int32": out / "int32.pte"}
    paths["portable"].write_bytes(to_edge(torch.export.export(model, args)).to_executorch().buffer)

    class Int32Inputs(torch.nn.Module):  # inputs int32, as LiteRT-style exports have them
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, types):
            return self.inner(ids.long(), mask.long(), types.long())

    args32 = tuple(a.to(torch.int32) for a in args)
    paths["int32"].write_bytes(to_edge(torch.export.export(Int32Inputs(model), args32)).to_executorch().buffer)
    exporter = get_exporter("executorch")
    for name, quantize in (("xnnpack", "none"), ("xnnpack_int8", "int8")):
        d = out / name
        d.mkdir()
        paths[name] = exporter.export(ExportRequest(model, 32, quantize, batches[:4], d)).path
    return paths, batches
