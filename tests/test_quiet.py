"""Export libraries must not flood the terminal (edgebert.quiet, `--verbose`).

LiteRT, ExecuTorch and TensorFlow Lite print from C++ straight to fds 1 and 2, so these
tests write the same way (a child process inheriting the fds, C's printf) and run the real
console script in a subprocess, where nothing stands between the libraries and the fds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgebert.quiet import VERBOSE_ENV, quiet

# characteristic pieces of the lines users saw during `edgebert export`
LIBRARY_NOISE = (
    "LiteRT-Torch Convert",  # litert-torch progress, stdout
    "flatbuffer_export.cc",  # TFLite converter, C++
    "Created TensorFlow Lite XNNPACK delegate",  # TFLite runtime, C++
    "cpuinfo_utils.cpp",  # ExecuTorch runtime, C++
    "absl::InitializeLog",  # absl, C++
    "port.cc",  # TensorFlow's oneDNN notice on importing litert-torch
    "_pytree.py",  # torch warning on importing torchao
    "Failed to load",  # torchao's missing CUDA kernels
    "Writing model shards",  # transformers' tqdm bar
)


def _child_writes(tag: str) -> None:
    """A process sharing our fds 1 and 2 writes to them, as a C++ library would."""
    code = f"import os; os.write(1, b'{tag}-out\\n'); os.write(2, b'{tag}-err\\n')"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_captures_what_bypasses_sys_stdout(capfd):
    with quiet("a noisy call") as log:
        _child_writes("child")
        os.write(2, b"raw-fd-2\n")
        print("python-print")
    seen = capfd.readouterr()
    for tag in ("child-out", "child-err", "raw-fd-2", "python-print"):
        assert tag in log.text
        assert tag not in seen.out + seen.err
    os.write(1, b"after\n")
    assert "after" in capfd.readouterr().out  # the fds are back


def test_failure_keeps_the_captured_tail(capfd):
    with pytest.raises(RuntimeError) as info:
        with quiet("the converter") as log:
            for i in range(20):
                os.write(2, f"pass {i}\n".encode())
            os.write(2, b"error: op aten::foo has no lowering\n")
            raise RuntimeError("conversion failed")
    assert "aten::foo has no lowering" in log.tail()
    assert "pass 19" in log.tail() and "pass 0" not in log.tail()
    assert "\n" not in log.tail()  # fits an error: line
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "the converter printed before failing" in notes and "aten::foo has no lowering" in notes
    assert "aten::foo" not in capfd.readouterr().err


def test_verbose_passes_everything_through(capfd, monkeypatch):
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with quiet("a noisy call") as log:
        _child_writes("live")
    seen = capfd.readouterr()
    assert "live-out" in seen.out and "live-err" in seen.err and log.text == ""


def test_conversion_error_carries_the_converters_last_lines(export_request, monkeypatch, capfd):
    """The converter's own output is what explains a failed conversion: it must reach the error: line."""
    import litert_torch

    from edgebert.exporters import ExportError, get_exporter

    def failing_convert(*args, **kwargs):
        os.write(2, b"loc(fused[...]): error: failed to legalize operation 'tfl.foo'\n")
        raise RuntimeError("pass pipeline failed")

    monkeypatch.setattr(litert_torch, "convert", failing_convert)
    with pytest.raises(ExportError) as info:
        get_exporter("tflite").export(export_request())
    line = info.value.one_line()
    assert line.startswith("LiteRT conversion failed: pass pipeline failed")
    assert "failed to legalize operation 'tfl.foo'" in line
    assert "tfl.foo" not in capfd.readouterr().err  # shown once, in the error, not before it


def test_in_a_real_process_only_edgebert_lines_reach_the_terminal():
    """Outside pytest edgebert's console writes to fd 2 too, and C's stdout is block-buffered."""
    script = textwrap.dedent("""
        import ctypes, os
        from edgebert.progress import console
        from edgebert.quiet import quiet

        with quiet("a noisy call") as log:
            os.write(2, b"library-line\\n")
            ctypes.CDLL(None).printf(b"c-printf\\n")  # sits in C's buffer until someone flushes it
            with console.status("working"):
                console.print("edgebert-line")
        console.print("captured: " + str("library-line" in log.text and "c-printf" in log.text))
    """)
    env = {k: v for k, v in os.environ.items() if k not in (VERBOSE_ENV, "PYTHONUNBUFFERED")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "edgebert-line" in done.stderr and "captured: True" in done.stderr
    assert "library-line" not in done.stderr + done.stdout
    assert "c-printf" not in done.stdout


# what an earlier in-process CLI test may have left in os.environ: the subprocess starts clean
SOURCE_SWITCHES = (VERBOSE_ENV, "TQDM_DISABLE", "LITERT_TORCH_SHOW_PROGRESS", "TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel",
                   "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")


@pytest.fixture(scope="module")
def export_cli(tmp_path_factory, hf_bert_dir, sentiment_csv):
    exe = Path(sys.executable).with_name("edgebert")

    def run(*extra: str, targets: str) -> subprocess.CompletedProcess:
        out = tmp_path_factory.mktemp("bundles") / "out"
        env = {k: v for k, v in os.environ.items() if k not in SOURCE_SWITCHES}
        return subprocess.run([str(exe), *extra, "export", str(hf_bert_dir), "--calibration", str(sentiment_csv),
                               "--target", targets, "--out", str(out), "--calib-size", "8", "--eval-limit", "20"],
                              capture_output=True, text=True, timeout=900, env=env)

    return run


def test_export_prints_only_edgebert_lines(export_cli):
    done = export_cli(targets="tflite,executorch,onnx")
    assert done.returncode == 0, done.stderr
    for noise in LIBRARY_NOISE:
        assert noise not in done.stdout, f"{noise!r} on stdout:\n{done.stdout}"
        assert noise not in done.stderr, f"{noise!r} on stderr:\n{done.stderr}"
    for bundle in ("tflite-fp32", "executorch-fp32", "onnx-fp32"):
        assert bundle in done.stdout  # the result table is still there
    assert "tflite: exporting" in done.stderr  # and edgebert's own progress lines


def test_verbose_shows_the_library_lines(export_cli):
    done = export_cli("--verbose", targets="tflite")
    assert done.returncode == 0, done.stderr
    assert "LiteRT-Torch Convert" in done.stdout
    assert "Created TensorFlow Lite XNNPACK delegate" in done.stderr
    assert "tflite-fp32" in done.stdout
