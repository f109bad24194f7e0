"""`edgebert demo` from the command line: serving until Ctrl-C, --lan QR code, --adb, one-line errors."""

from __future__ import annotations

import json
import socket
import stat
import urllib.request

import pytest
from typer.testing import CliRunner

from edgebert.cli import app

FAKE_ADB = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in
  "devices -l") printf 'List of devices attached\\nFAKE123 device model:Pixel_7\\n' ;;
  *"{fail}"*) echo "{fail_msg}"; [ "{fail_status}" = 0 ] || {{ echo "error: {fail_msg}" >&2; exit 1; }} ;;
  *) echo ok ;;
esac
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """An `adb` that logs its arguments (no phone needed); ``make(fail=...)`` makes one command fail."""
    log = tmp_path / "adb.log"

    def make(fail: str = "@never@", fail_msg: str = "", fail_status: int = 1):
        exe = tmp_path / "adb"
        exe.write_text(FAKE_ADB.format(log=log, fail=fail, fail_msg=fail_msg, fail_status=fail_status))
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("EDGEBERT_ADB", str(exe))
        return log

    return make


@pytest.fixture
def serve_then_ctrl_c(monkeypatch):
    """Replace the serve loop's wait: fetch the page while serving, then press Ctrl-C."""
    seen = {}

    def wait():
        with urllib.request.urlopen(f"http://127.0.0.1:{seen['port']}/", timeout=10) as r:
            seen["status"], seen["coep"] = r.status, r.headers["Cross-Origin-Embedder-Policy"]
        raise KeyboardInterrupt

    monkeypatch.setattr("edgebert.demo_cli._wait_for_ctrl_c", wait)
    return seen


def invoke(args):
    return CliRunner().invoke(app, ["demo", *map(str, args)])


def test_serves_until_ctrl_c_and_undoes_the_adb_reverse(fake_app, fake_bundle, fake_adb, serve_then_ctrl_c):
    log = fake_adb()
    port = serve_then_ctrl_c["port"] = free_port()
    res = invoke([fake_bundle, "--port", port, "--adb"])
    assert res.exit_code == 0, res.output
    assert f"http://127.0.0.1:{port}/" in res.stdout and "stopped" in res.stdout and "Traceback" not in res.output
    assert serve_then_ctrl_c == {"port": port, "status": 200, "coep": "require-corp"}
    assert log.read_text().splitlines() == [
        "devices -l", f"-s FAKE123 reverse tcp:{port} tcp:{port}",
        f"-s FAKE123 shell am start -a android.intent.action.VIEW -d http://localhost:{port}/",
        f"-s FAKE123 reverse --remove tcp:{port}"]


def test_adb_serial_can_be_given(fake_app, fake_bundle, fake_adb, serve_then_ctrl_c):
    log = fake_adb()
    port = serve_then_ctrl_c["port"] = free_port()
    res = invoke(["--adb", "emulator-5554", "--port", port, fake_bundle])
    assert res.exit_code == 0, res.output
    assert log.read_text().splitlines()[0] == f"-s emulator-5554 reverse tcp:{port} tcp:{port}"


@pytest.mark.parametrize("fail,msg,status,expected", [
    ("reverse tcp", "device offline", 1, "adb reverse tcp:"),
    ("am start", "Error: Activity not started, unable to resolve Intent", 0, "adb shell am failed on FAKE123: Error: "
     "Activity not started"),
])
def test_adb_failures_are_one_line(fake_app, fake_bundle, fake_adb, fail, msg, status, expected):
    log = fake_adb(fail=fail, fail_msg=msg, fail_status=status)
    res = invoke([fake_bundle, "--port", 0, "--adb"])
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert line.startswith("error:") and expected in line and "\n" not in line
    if fail == "am start":  # the reverse it had set up is removed again
        assert "reverse --remove" in log.read_text().splitlines()[-1]


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
