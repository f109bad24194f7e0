"""`edgebert devices` and `edgebert bench` from the command line: output files and one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgebert.cli import app

run = CliRunner().invoke


def test_devices_lists_host_and_ssh_config(tmp_path, monkeypatch):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host rpi5\n  HostName 192.168.1.50\n  User pi\n")
    monkeypatch.setenv("EDGEBERT_SSH_CONFIG", str(cfg))
    res = run(app, ["devices"])
    assert res.exit_code == 0, res.output
    assert "host" in res.stdout and "ssh://rpi5" in res.stdout


def test_bench_writes_json_markdown_and_plot(tiny_bundles, tmp_path):
    out = tmp_path / "report"
    res = run(app, ["bench", str(tiny_bundles["onnx-fp32"]), "--device", "host", "--runs", "2", "--min-seconds", "0",
                    "--warmup", "0", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} >= {"bench.json", "bench.md", "bench.png"}
    assert "bench.md" in res.stdout and "| teacher/onnx-fp32 | teacher | onnx | fp32 |" in (out / "bench.md").read_text()


@pytest.mark.parametrize("args,expected", [
    (["{missing}"], "does not exist"),
    (["{onnx}", "--device", "phone"], "unknown device 'phone'"),
    (["{onnx}", "--device", "ssh://bad@host:port"], "bad ssh device"),
    (["{onnx}", "--runs", "0"], "--runs must be at least 1"),
    (["{onnx}", "--threads", "0"], "--threads must be at least 1"),
    (["{onnx}", "--benchmark-model", "{missing}"], "is not a file"),
    (["{onnx}", "--runner", "fast"], "unknown --runner fast"),
    (["{onnx}", "--teacher", "{missing}"], "does not exist"),
    (["{onnx}", "--device", "ssh://root@127.0.0.1:{port}"], "unreachable during describe"),
])
def test_bench_user_errors_are_one_line_exit_2(tiny_bundles, tmp_path, args, expected):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    fill = {"missing": str(tmp_path / "nope"), "onnx": str(tiny_bundles["onnx-fp32"]), "port": str(port)}
    res = run(app, ["bench", *(a.format(**fill) for a in args), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0] and res.stderr.strip().endswith(errors[0]), res.stderr
    assert not (tmp_path / "o" / "bench.json").exists()  # nothing measured, no report
