"""The ssh transport against a REAL Debian sshd this test starts on 127.0.0.1.

The server gets its own host key, a user key made here with ssh-keygen, its own
sshd_config (no PAM, its own authorized_keys and pid file) and a free port. The harness then
pushes, runs and pulls through the real OpenSSH client; one test kills sshd mid-run. Spec
parsing and config discovery need no sshd: they are in test_ssh_parsing.py, which always runs.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from edgebert.devices import DeviceGone, get_transport
from edgebert.devices.bench import run_bench
from edgebert.devices.transports.ssh import SshTransport

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
if not Path(SSHD).exists():  # the repo-root conftest.py fails this skip in CI
    pytest.skip("sshd not installed (apt-get install openssh-server; listed in .ci/apt-packages.txt)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SshServer:
    def __init__(self, root: Path):
        self.root, self.port, self.proc = root, _free_port(), None
        self.user = getpass.getuser()
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
        shutil.copy(root / "user_key.pub", root / "authorized_keys")
        sftp = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server") if Path(p).exists()),
                    "internal-sftp")
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nUsePAM no\nStrictModes no\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            f"Subsystem sftp {sftp}\nLogLevel ERROR\n")
        host_pub = (root / "host_key.pub").read_text().split()
        (root / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory

    def start(self) -> None:
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.proc.stderr.read().decode()[:500]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not start listening")

    def kill(self) -> None:
        """The listener and every session process it forked (the runner it started lives on)."""
        if self.proc is None:
            return
        try:
            procs = [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p.name().startswith("sshd")]
        except psutil.NoSuchProcess:
            procs = []
        for p in [*procs, psutil.Process(self.proc.pid)]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=10)
        self.proc = None

    @property
    def spec(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SshServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def ssh_env(sshd, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEBERT_SSH_KEY", str(sshd.root / "user_key"))
    monkeypatch.setenv("EDGEBERT_SSH_CONFIG", str(tmp_path / "no-ssh-config"))
    monkeypatch.setenv("EDGEBERT_SSH_OPTIONS",
                       f"-o UserKnownHostsFile={sshd.root / 'known_hosts'} -o StrictHostKeyChecking=yes")
    monkeypatch.setenv("EDGEBERT_REMOTE_PYTHON", sys.executable)  # the "board" is this machine
    return sshd


def test_push_run_pull_describe_for_real(ssh_env, tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(4096))
    with get_transport(ssh_env.spec) as t:
        info = t.describe()
        assert info.kind == "ssh" and info.name.endswith(f":{ssh_env.port}") and info.abi == os.uname().machine
        assert info.cores == os.cpu_count() and info.os.startswith("Debian")
        work = t.workdir()
        assert Path(work).is_dir()  # the "board" is this machine, so its folder is visible here
        t.push(src, f"{work}/payload.bin")
        assert (Path(work) / "payload.bin").read_bytes() == src.read_bytes()
        res = t.run(["sh", "-c", "wc -c < \"$1\"; echo oops >&2; exit 7", "sh", f"{work}/payload.bin"], timeout=30)
        assert (res.returncode, res.stdout.strip(), res.stderr.strip()) == (7, "4096", "oops")
        res = t.run(["echo", "it's quoted; $HOME"], timeout=30)
        assert res.stdout == "it's quoted; $HOME\n"
        t.pull(f"{work}/payload.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    assert not Path(work).exists() and t.leftover is None


def test_bench_over_ssh_compares_with_the_teacher(ssh_env, tiny_bundles, quick, tmp_path):
    report = run_bench([tiny_bundles["onnx-int8"]], ssh_env.spec, quick, tmp_path, progress_enabled=False,
                       teachers=[tiny_bundles["onnx-fp32"]])
    assert report.complete and report.device["kind"] == "ssh"
    teacher, cand = report.measurements
    assert (teacher.role, teacher.name, cand.role, cand.teacher) == ("teacher", "teacher/onnx-fp32", "candidate",
                                                                   "teacher/onnx-fp32")
    assert all(m.status == "measured" and m.sanity["passed"] for m in report.measurements)
    cmp = report.comparison(cand)
    assert cmp["size_ratio"] == pytest.approx(teacher.size_bytes / cand.size_bytes) and cmp["size_ratio"] > 1.0  # embeddings stay float
    assert cmp["speedup_p50"] == pytest.approx(teacher.p50 / cand.p50)
    md = (tmp_path / "bench.md").read_text()
    assert "ssh" in md and "| onnx-int8 | candidate | onnx | int8 |" in md


def test_timeout_kills_the_remote_command(ssh_env):
    from edgebert.devices import DeviceTimeout

    with get_transport(ssh_env.spec) as t:
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match="ran past 1 s"):
            t.run(["sleep", "37.25"], timeout=1)
        assert time.monotonic() - t0 < 15
    time.sleep(0.5)
    left = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "37.25"]]
    assert not left  # the board's own `timeout` killed it; nothing keeps running there


def test_unreachable_host_is_one_line_error(ssh_env):
    port = _free_port()  # nothing listens here
    with pytest.raises(DeviceGone, match="unreachable during describe") as info:
        get_transport(f"ssh://{ssh_env.user}@127.0.0.1:{port}").describe()
    assert "\n" not in info.value.one_line()


def _kill_when_running(server: SshServer, workdirs: list, artifact: str, restart_after: float | None):
    """Wait for the 2nd artifact in the session's scratch folder (the "board" is this machine),
    give its runner a moment, then drop sshd."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if workdirs and (Path(workdirs[0]) / artifact).exists():
            time.sleep(1.5)
            server.kill()
            if restart_after is not None:
                time.sleep(restart_after)
                server.start()
            return
        time.sleep(0.05)


@pytest.mark.parametrize("comes_back", [True, False], ids=["link-returns", "link-stays-down"])
def test_sshd_killed_mid_run(ssh_env, tiny_bundles, quick, tmp_path, comes_back, monkeypatch):
    """One-line DeviceGone; the teacher's numbers are kept, marked incomplete; the device is cleaned
    as soon as it answers again (or the error names what was left)."""
    quick.min_seconds = 6.0  # the candidate is still running when sshd dies
    quick.runs = 1
    workdirs = []
    real = SshTransport.workdir
    monkeypatch.setattr(SshTransport, "workdir", lambda self: workdirs.append(real(self)) or workdirs[-1])
    killer = threading.Thread(target=_kill_when_running,
                              args=(ssh_env, workdirs, "onnx-int8.onnx", 0.5 if comes_back else None), daemon=True)
    killer.start()
    try:
        with pytest.raises(DeviceGone) as info:
            run_bench([tiny_bundles["onnx-int8"]], ssh_env.spec, quick, tmp_path, progress_enabled=False,
                      teachers=[tiny_bundles["onnx-fp32"]])
    finally:
        killer.join(timeout=60)
        if ssh_env.proc is None:
            ssh_env.start()
    line = info.value.one_line()
    assert "\n" not in line and "unreachable" in line and f"partial report in {tmp_path}" in line
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["complete"] is False and "unreachable" in doc["error"]
    teacher, cand = doc["measurements"]
    assert teacher["status"] == "measured" and teacher["result"]["runs"] >= 1
    assert cand["status"] == "failed" and "unreachable" in cand["error"]
    assert "INCOMPLETE" in (tmp_path / "bench.md").read_text()
    left = [w for w in dict.fromkeys(workdirs) if Path(w).exists()]
    if comes_back:
        assert workdirs and doc["leftover_on_device"] is None and not left, left
    else:
        assert doc["leftover_on_device"] and f"could not remove {doc['leftover_on_device']}" in line
        assert left == [doc["leftover_on_device"]]
        shutil.rmtree(doc["leftover_on_device"])
    # the orphaned runner (its session is gone) ends on its own within its measuring time
    for p in psutil.process_iter(["cmdline"]):
        if any("onnx-int8.onnx" in a for a in (p.info["cmdline"] or [])) and p.pid != os.getpid():
            p.wait(timeout=30)
