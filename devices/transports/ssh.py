"""Linux boards (Raspberry Pi, Jetson, a phone in Termux) through the real OpenSSH client.

Every call is one ``ssh``/``scp`` process with BatchMode (never a password prompt),
ConnectTimeout and ServerAliveInterval, so a board that drops off the network turns into a
:class:`DeviceGone` within seconds instead of a hang. Remote commands run under the
board's own ``timeout`` when it has one, so a timed-out runner does not live on.

Environment: ``EDGEBERT_SSH_KEY`` (identity file), ``EDGEBERT_SSH_CONFIG`` (ssh -F file,
default ``~/.ssh/config``), ``EDGEBERT_SSH_OPTIONS`` (extra ssh options), and
``EDGEBERT_REMOTE_PYTHON`` (the board's Python with the runtimes, default ``python3``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from .. import register_transport
from ..base import CommandResult, DeviceError, DeviceGone, DeviceInfo, DeviceTimeout, Transport, taskset_prefix
from ..sysinfo import PROBE, parse_probe

SPEC = re.compile(r"^ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]]+\]|[^@/:]+)(?::(?P<port>\d+))?/?$")
CONNECT_TIMEOUT = 10
SSH_GONE = 255  # ssh's own exit status for connection errors


def _config_path() -> Path:
    return Path(os.environ.get("EDGEBERT_SSH_CONFIG") or Path.home() / ".ssh" / "config")


@register_transport
class SshTransport(Transport):
    kind = "ssh"
    discover_note = "Host entry of the ssh config"

    def __init__(self, host: str, user: str | None = None, port: int | None = None):
        if not shutil.which("ssh") or not shutil.which("scp"):
            raise DeviceError("the OpenSSH client (ssh, scp) is not installed",
                              "apt install openssh-client (or brew install openssh)")
        self.host, self.user, self.port = host, user, port
        self._dir: str | None = None
        self._probe: dict | None = None

    # ------------------------------------------------------------------ spec / discovery
    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec.startswith("ssh://")

    @classmethod
    def from_spec(cls, spec: str) -> "SshTransport":
        m = SPEC.match(spec)
        if not m:
            raise DeviceError(f"bad ssh device '{spec}'", "use ssh://user@host[:port] or ssh://HOST-ALIAS")
        return cls(m["host"].strip("[]"), m["user"], int(m["port"]) if m["port"] else None)

    @classmethod
    def discover(cls) -> list[str]:
        """``Host`` entries of the ssh config (wildcard patterns skipped)."""
        try:
            text = _config_path().read_text()
        except OSError:
            return []
        hosts = []
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and words[0].lower() == "host":
                hosts += [h for h in words[1:] if not any(c in h for c in "*?!")]
        return [f"ssh://{h}" for h in dict.fromkeys(hosts)]

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def name(self) -> str:
        return self.target + (f":{self.port}" if self.port else "")

    def _options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if _config_path().exists():
            opts = ["-F", str(_config_path()), *opts]
        key = os.environ.get("EDGEBERT_SSH_KEY")
        if key:
            opts += ["-i", key, "-o", "IdentitiesOnly=yes"]
        return opts + shlex.split(os.environ.get("EDGEBERT_SSH_OPTIONS", ""))

    # ------------------------------------------------------------------ process plumbing
    def _exec(self, argv: list[str], timeout: float, what: str) -> CommandResult:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceTimeout(f"{what} on {self.name} ran past {timeout:.0f} s",
                                "raise --timeout or lower --runs/--min-seconds") from None
        return CommandResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)

    def _gone(self, res: CommandResult, what: str) -> DeviceGone:
        detail = (res.stderr.strip().splitlines() or ["connection lost"])[-1]
        return DeviceGone(f"ssh device {self.name} unreachable during {what}: {detail}",
                          "check the board is on the network and `ssh` to it works without a password")

    def _ssh(self, command: str, timeout: float, what: str) -> CommandResult:
        port = ["-p", str(self.port)] if self.port else []
        res = self._exec(["ssh", *self._options(), *port, self.target, command], timeout, what)
        if res.returncode == SSH_GONE:
            raise self._gone(res, what)
        return res

    def _scp(self, src: str, dst: str, what: str, timeout: float = 600) -> None:
        port = ["-P", str(self.port)] if self.port else []
        base = ["scp", "-q", *self._options(), *port]
        res = self._exec([*base, "-r", src, dst], timeout, what)
        if res.returncode != 0 and "subsystem" in res.stderr.lower():  # board without sftp-server
            res = self._exec([*base, "-O", "-r", src, dst], timeout, what)
        if res.returncode != 0:
            if "connect" in res.stderr.lower() or "lost connection" in res.stderr.lower():
                raise self._gone(res, what)
            raise DeviceError(f"{what} failed on {self.name}: {(res.stderr.strip().splitlines() or ['?'])[-1]}")

    def _remote(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{path}" if self.user else f"{host}:{path}"

    # ------------------------------------------------------------------ Transport
    def _facts(self) -> dict:
        if self._probe is None:
            res = self._ssh(PROBE, 60, "describe")
            if res.returncode != 0 and "@@machine" not in res.stdout:
                raise DeviceError(f"cannot describe {self.name}: {res.stderr.strip()[:200]}")
            self._probe = parse_probe(res.stdout)
        return self._probe

    def describe(self) -> DeviceInfo:
        f = self._facts()
        return DeviceInfo(kind="ssh", name=self.name, model=f["model"], os=f["os"], abi=f["machine"],
                          cores=f["cores"], emulated=f["emulated"], thermal=f["thermal"],
                          extra={"big_cores": f["big_cores"], "tools": f["tools"]})

    def workdir(self) -> str:
        if self._dir is None:
            res = self._ssh('mktemp -d "${TMPDIR:-/tmp}/edgebert.XXXXXX"', 30, "mktemp")
            path = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
            if res.returncode != 0 or not path.startswith("/"):
                raise DeviceError(f"cannot create a scratch folder on {self.name}: {res.stderr.strip()[:200]}")
            self._dir = path
        return self._dir

    def push(self, local: Path, remote: str) -> None:
        self._scp(str(local), self._remote(remote), f"push of {Path(local).name}")

    def pull(self, remote: str, local: Path) -> None:
        self._scp(self._remote(remote), str(local), f"pull of {remote}")

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        command = self.quote(argv)
        wrapped = "timeout" in self._facts()["tools"]
        if wrapped:  # the board kills its own runaway process, even if the link drops
            command = f"timeout -k 5 {max(1, int(round(timeout)))} {command}"
        res = self._ssh(command, timeout + 15, Path(argv[0]).name)
        if wrapped and res.returncode in (124, 137):
            raise DeviceTimeout(f"{Path(argv[0]).name} on {self.name} ran past {timeout:.0f} s",
                                "raise --timeout or lower --runs/--min-seconds")
        return res

    def cleanup(self, attempts: int = 3, wait: float = 2.0) -> None:
        """Remove the scratch folder; retries so a short network blip still ends clean."""
        if self._dir is None:
            return
        for i in range(attempts):
            try:
                res = self._ssh(f"rm -rf {shlex.quote(self._dir)}", 30, "cleanup")
                if res.returncode == 0:
                    self._dir = None
                    return
            except DeviceError:
                pass
            if i + 1 < attempts:
                time.sleep(wait)

    @property
    def leftover(self) -> str | None:
        """The scratch folder cleanup could not remove (device unreachable), if any."""
        return self._dir

    def python_command(self) -> list[str] | None:
        return shlex.split(os.environ.get("EDGEBERT_REMOTE_PYTHON", "python3"))

    def thermal(self) -> dict:
        res = self._ssh(PROBE, 60, "thermal readout")
        return parse_probe(res.stdout)["thermal"]

    def big_cores(self) -> list[int]:
        return self._facts()["big_cores"]

    def pin_prefix(self, cores: list[int]) -> list[str] | None:
        return taskset_prefix(cores) if "taskset" in self._facts()["tools"] else None
