"""The machine edgebert runs on: a real device for CI, and the baseline users compare against.

Host numbers are host numbers: :class:`DeviceInfo` says x86_64 (or whatever this is), so a
laptop's latency is never mistaken for a phone's.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import register_transport
from ..base import CommandResult, DeviceError, DeviceInfo, DeviceTimeout, Transport, taskset_prefix
from ..sysinfo import PROBE, parse_probe


@register_transport
class HostTransport(Transport):
    kind = "host"
    discover_note = "this machine (host numbers are not phone numbers)"

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._probe: dict | None = None

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec in ("host", "local", "localhost")

    @classmethod
    def from_spec(cls, spec: str) -> "HostTransport":
        return cls()

    @classmethod
    def discover(cls) -> list[str]:
        return ["host"]

    def _facts(self) -> dict:
        if self._probe is None:
            res = self.run(["sh", "-c", PROBE], timeout=30)
            self._probe = parse_probe(res.stdout)
        return self._probe

    def describe(self) -> DeviceInfo:
        f = self._facts()
        return DeviceInfo(kind="host", name=platform.node() or "localhost", model=f["model"],
                          os=f["os"] if f["os"] != "Linux" else f"{platform.system()} {platform.release()}",
                          abi=f["machine"] or platform.machine(), cores=f["cores"] or os.cpu_count(),
                          emulated=f["emulated"], thermal=f["thermal"],
                          extra={"python": sys.version.split()[0], "big_cores": f["big_cores"]})

    def workdir(self) -> str:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="edgebert-device-"))
        return str(self._dir)

    def push(self, local: Path, remote: str) -> None:
        try:
            if Path(local).is_dir():
                shutil.copytree(local, remote, dirs_exist_ok=True)
            else:
                shutil.copy2(local, remote)
        except OSError as exc:
            raise DeviceError(f"cannot copy {local} to {remote}: {exc.strerror}") from None

    def pull(self, remote: str, local: Path) -> None:
        try:
            shutil.copy2(remote, local)
        except OSError as exc:
            raise DeviceError(f"cannot copy {remote} to {local}: {exc.strerror}") from None

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        t0 = time.perf_counter()
        try:
            # a new session, so a timeout kills the runner and anything it started
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        except OSError as exc:
            raise DeviceError(f"cannot run {argv[0]}: {exc.strerror}") from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise DeviceTimeout(f"{Path(argv[0]).name} ran past {timeout:.0f} s on the host",
                                "raise --timeout or lower --runs/--min-seconds") from None
        return CommandResult(proc.returncode, out, err, time.perf_counter() - t0)

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def python_command(self) -> list[str] | None:
        return [sys.executable]  # edgebert's own environment has all three runtimes

    def thermal(self) -> dict:
        self._probe = None
        return self._facts()["thermal"]

    def big_cores(self) -> list[int]:
        return self._facts()["big_cores"]

    def pin_prefix(self, cores: list[int]) -> list[str] | None:
        return taskset_prefix(cores) if shutil.which("taskset") else None
