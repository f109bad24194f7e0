"""The CLI through typer's runner (fast) and once through the real console script."""

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgebert import __version__
from edgebert.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version_and_help():
    assert invoke("--version").stdout.strip() == f"edgebert {__version__}"
    res = invoke("--help")
    assert res.exit_code == 0
    for cmd in ("doctor", "eval", "teacher"):
        assert cmd in res.stdout


def test_eval_writes_table_and_json(hf_bert_dir, sentiment_csv, tmp_path):
    res = invoke("eval", hf_bert_dir, "--data", sentiment_csv, "--seq-len", 16, "--latency-runs", 2,
                 "--json", tmp_path / "r" / "eval.json")
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.stdout and "latency" in res.stdout
    rep = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert [s["split"] for s in rep["splits"]] == ["dev", "test"] and rep["latency"]["runs"] == 2


def test_teacher_then_eval(hf_encoder_dir, sentiment_csv, tmp_path):
    res = invoke("teacher", "--base", hf_encoder_dir, "--data", sentiment_csv, "--out", tmp_path / "t",
                 "--seq-len", 16, "--top-layers", 0)
    assert res.exit_code == 0, res.output
    res = invoke("eval", tmp_path / "t", "--data", sentiment_csv, "--splits", "test", "--latency-runs", 0)
    assert res.exit_code == 0, res.output
    assert "test" in res.stdout


def test_teacher_on_a_shipped_encoder_by_name(hf_encoder_dir, sentiment_csv, tmp_path, monkeypatch):
    from edgebert import assets
    from edgebert.model import load_model

    monkeypatch.setitem(assets.SHIPPED_ENCODERS, "mpnet-base",
                        assets.ShippedEncoder("mpnet-base", (), lambda: hf_encoder_dir))
    res = invoke("teacher", "--base", "mpnet-base", "--data", sentiment_csv, "--out", tmp_path / "t",
                 "--seq-len", 16, "--top-layers", 0)
    assert res.exit_code == 0, res.output
    assert load_model(tmp_path / "t").config.hidden_size == load_model(hf_encoder_dir).config.hidden_size
    res = invoke("teacher", "--base", "mpnet-huge", "--data", sentiment_csv, "--out", tmp_path / "u")
    assert res.exit_code == 2 and "mpnet-huge" in res.output and "Traceback" not in res.output


def _bad(tmp_path, hf_bert_dir, sentiment_csv, case):
    """(args, expected words) for each user mistake the foundation issue lists."""
    if case == "missing_model":
        return ["eval", tmp_path / "nope", "--data", sentiment_csv], "does not exist"
    if case == "not_bert":
        d = tmp_path / "funnel"
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"model_type": "funnel", "architectures": ["FunnelModel"]}))
        return ["eval", d, "--data", sentiment_csv], "unsupported encoder family"
    if case == "corrupt":
        d = tmp_path / "corrupt"
        shutil.copytree(hf_bert_dir, d)
        w = d / "model.safetensors"
        w.write_bytes(w.read_bytes()[:1000])
        return ["eval", d, "--data", sentiment_csv], "corrupt or truncated"
    if case == "no_label_column":
        p = tmp_path / "nolabel.csv"
        p.write_text("text\ngreat film\n")
        return ["eval", hf_bert_dir, "--data", p], "no label column"
    if case == "unknown_label":
        p = tmp_path / "unknown.csv"
        p.write_text("text,label\ngreat,pos\nbad,neg\nmeh,meh\n")
        return ["eval", hf_bert_dir, "--data", p], "does not know"
    if case == "empty_split":
        p = tmp_path / "tiny.csv"
        p.write_text("text,label\ngreat,pos\nbad,neg\n")
        return ["eval", hf_bert_dir, "--data", p, "--splits", "dev"], "dev split is empty"
    if case == "no_data":
        return ["eval", hf_bert_dir], "no labelled data given"
    if case == "unwritable":  # a file where a folder should be: fails even for root
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        return ["teacher", "--base", hf_bert_dir, "--data", sentiment_csv, "--out", blocker / "sub" / "t",
                "--top-layers", 0, "--seq-len", 16], "which is a file"
    raise AssertionError(case)


CASES = ["missing_model", "not_bert", "corrupt", "no_label_column", "unknown_label", "empty_split", "no_data",
         "unwritable"]


@pytest.mark.parametrize("case", CASES)
def test_user_errors_are_one_line_without_traceback(case, tmp_path, hf_bert_dir, sentiment_csv):
    args, expected = _bad(tmp_path, hf_bert_dir, sentiment_csv, case)
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], res.stderr
    assert "Traceback" not in res.output


def test_real_console_script_reports_errors_in_one_line(tmp_path):
    exe = shutil.which("edgebert") or str(__import__("pathlib").Path(sys.executable).with_name("edgebert"))
    ok = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == f"edgebert {__version__}"
    bad = subprocess.run([exe, "eval", str(tmp_path / "missing"), "--data", "x.csv"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
