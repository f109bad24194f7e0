"""`edgebert demo` from the command line: serving until Ctrl-C, --lan QR code, --adb, one-line errors.

The --adb tests run `edgebert demo` as a process with the real Debian ``adb`` client against the
adb protocol test server (tests/devices/adbd_server.py, NOT Android), and stop it with SIGINT.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgebert.cli import app


# `edgebert` with SIGINT raising KeyboardInterrupt, as at a terminal: a child of a process started
# in the background by a non-interactive shell would otherwise inherit SIGINT ignored
EDGEBERT = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "sys.argv[0] = 'edgebert'; from edgebert.cli import main; main()")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoProcess:
    """`edgebert demo ARGS` in a process; ``wait_for`` reads its stdout while it serves."""

    def __init__(self, args, env: dict | None = None):
        env = {**os.environ, "COLUMNS": "500", "PYTHONUNBUFFERED": "1", **(env or {})}  # no wrapped URLs
        self.proc = subprocess.Popen([sys.executable, "-c", EDGEBERT, "demo", *map(str, args)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self.stderr = ""
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._readers:
            t.start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self._readers[0].is_alive(), f"exited before {text!r}: {self.lines} {self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {self.lines}"
            time.sleep(0.05)
        return "\n".join(self.lines)

    def finish(self, timeout: float = 60) -> int:
        """The exit status, once stdout and stderr are read to the end."""
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        for t in self._readers:
            t.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def demo_process():
    procs = []

    def start(args, env=None) -> DemoProcess:
        procs.append(DemoProcess(args, env))
        return procs[-1]

    yield start
    for p in procs:
        p.kill()


def adb_reverse_list(serial: str) -> list[str]:
    """What the real client reads back from the device's reverse:list-forward."""
    res = subprocess.run(["adb", "-s", serial, "reverse", "--list"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return [" ".join(line.split()[1:]) for line in res.stdout.splitlines() if line.strip()]


@pytest.fixture
def serve_then_ctrl_c(monkeypatch):
    """Replace the serve loop's wait: fetch the page while serving, then press Ctrl-C."""
    seen = {}

    def wait():
        with urllib.request.urlopen(f"http://127.0.0.1:{seen['port']}/", timeout=10) as r:
            seen["status"], seen["coep"] = r.status, r.headers["Cross-Origin-Embedder-Policy"]
        raise KeyboardInterrupt

    monkeypatch.setattr("edgebert.cli.demo._wait_for_ctrl_c", wait)
    return seen


def invoke(args):
    return CliRunner().invoke(app, ["demo", *map(str, args)])


@pytest.mark.parametrize("which", ["serial", "only-phone"])
def test_adb_reverse_while_serving_and_removed_on_ctrl_c(fake_app, fake_bundle, adbd, demo_process, which):
    """The phone opens localhost:P (a secure context) through the reverse; Ctrl-C leaves it without one."""
    adb_args = ["--adb", adbd.serial] if which == "serial" else ["--adb"]  # bare --adb: the only device
    demo = demo_process([fake_bundle, *adb_args, "--port", 0])
    out = demo.wait_for("Ctrl-C to stop")
    port = int(re.search(r"at http://127\.0\.0\.1:(\d+)/", out)[1])
    assert f"opened http://localhost:{port}/ on {adbd.serial} (adb reverse tcp:{port})" in out
    assert adbd.reverse_forwards == {f"tcp:{port}": f"tcp:{port}"}  # phone's localhost:P -> this machine's P
    assert adb_reverse_list(adbd.serial) == [f"tcp:{port} tcp:{port}"]
    assert adbd.am_calls == [f"start -a android.intent.action.VIEW -d http://localhost:{port}/"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:  # what the reverse leads to
        assert r.status == 200 and r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"

    demo.proc.send_signal(signal.SIGINT)
    assert demo.finish() == 0, demo.stderr
    assert demo.lines[-1] == "stopped" and "Traceback" not in demo.stderr
    assert adbd.reverse_forwards == {} and adb_reverse_list(adbd.serial) == []
    assert adbd.reverse_requests == [f"forward:tcp:{port};tcp:{port}", "list-forward", f"killforward:tcp:{port}",
                                     "list-forward"]


ADB_FAILURES = {  # case -> regex for the error line; {port} and {serial} filled in
    "unknown-serial": r"adb reverse tcp:{port} failed on NOPE-404: .*device 'NOPE-404' not found",
    "am-error": r"adb shell am failed on {serial}: Error: Activity not started, unable to resolve Intent",
    "no-adb": r"adb not found \(install Android platform-tools",
}


@pytest.mark.parametrize("case", ADB_FAILURES)
def test_adb_failures_are_one_line(fake_app, fake_bundle, adbd, demo_process, case):
    """`am start` reports a failure on stdout with exit status 0; a failure after the reverse must undo it."""
    port, env, serial = free_port(), {}, adbd.serial
    if case == "unknown-serial":
        serial = "NOPE-404"
    elif case == "am-error":
        (adbd.root / "am_error").write_text("Activity not started, unable to resolve Intent { act=VIEW }")
    else:
        env = {"PATH": str(Path(sys.executable).parent), "EDGEBERT_ADB": ""}
    demo = demo_process([fake_bundle, "--port", port, "--adb", serial], env)
    code = demo.finish(timeout=30)
    assert code == 2, (demo.lines, demo.stderr)
    line = demo.stderr.strip()
    assert line.startswith("error:") and "\n" not in line and "Traceback" not in line, demo.stderr
    assert re.search(ADB_FAILURES[case].format(port=port, serial=re.escape(adbd.serial)), line), line
    assert adbd.reverse_forwards == {}  # nothing left behind on the phone
    if case == "am-error":  # it had set the reverse up: removed again
        assert adbd.reverse_requests == [f"forward:tcp:{port};tcp:{port}", f"killforward:tcp:{port}"]
        assert adbd.am_calls == [f"start -a android.intent.action.VIEW -d http://localhost:{port}/"]
    else:
        assert adbd.reverse_requests == [] and adbd.am_calls == []


def test_lan_prints_address_and_qr_code(fake_app, fake_bundle, serve_then_ctrl_c, monkeypatch):
    monkeypatch.setattr("edgebert.demo.server.lan_address", lambda: "192.168.7.9")
    port = serve_then_ctrl_c["port"] = free_port()
    res = invoke([fake_bundle, "--port", port, "--lan"])
    assert res.exit_code == 0, res.output
    assert f"http://192.168.7.9:{port}/" in res.stdout
    assert sum(line.count("█") + line.count("▀") + line.count("▄") for line in res.stdout.splitlines()) > 100


def test_lan_address_is_an_ipv4_address():
    from edgebert.demo.server import lan_address

    parts = lan_address().split(".")
    assert len(parts) == 4 and all(p.isdigit() for p in parts)


@pytest.mark.parametrize("case,expected", [
    ("missing", "does not exist"), ("pte", "a executorch bundle cannot run in a browser"),
    ("no-npm", "the web demo's runtimes are not installed"), ("port-taken", "cannot listen on port"),
    ("bad-port", "is not a port"),
])
def test_bad_input_is_one_line(fake_app, fake_bundle, tmp_path, case, expected):
    args = [fake_bundle, "--port", 0]
    if case == "missing":
        args[0] = tmp_path / "nope"
    elif case == "pte":
        meta = json.loads((fake_bundle / "metadata.json").read_text())
        (fake_bundle / "metadata.json").write_text(json.dumps({**meta, "target": "executorch"}))
    elif case == "no-npm":
        import shutil

        shutil.rmtree(fake_app / "node_modules")
    elif case == "bad-port":
        args[2] = 70000
    sock = socket.socket()
    try:
        if case == "port-taken":
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            args[2] = sock.getsockname()[1]
        res = invoke(args)
    finally:
        sock.close()
    assert res.exit_code == 2, res.output
    assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1
