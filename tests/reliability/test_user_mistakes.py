"""Every user mistake the trust audit found, through the real `edgebert` program in a subprocess.

Each case must exit 2 with ONE `error:` line on stderr that names the problem (and how to
fix it), print no traceback, and leave every file that existed before byte for byte. The
README's "every user mistake prints one error: line and exits 2" points here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builders import make_hf_deberta

EXE = str(Path(sys.executable).with_name("edgebert"))


def edgebert(*args, env=None, timeout=300, prefix=()) -> subprocess.CompletedProcess:
    e = {**os.environ, "COLUMNS": "300", **(env or {})}
    return subprocess.run([*prefix, EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def user(tmp_path_factory, hf_bert_dir, hf_encoder_dir, sentiment_csv):
    """A user's folder: their checkpoints, data, a thesis, a bundle they exported."""
    from edgebert.data import load_labelled
    from edgebert.exporters.export import ExportOptions, export_model

    home = tmp_path_factory.mktemp("user")
    shutil.copytree(hf_bert_dir, home / "clf")
    shutil.copytree(hf_encoder_dir, home / "enc")
    shutil.copy(sentiment_csv, home / "data.csv")
    (home / "notes.txt").write_text("my notes\n")
    (home / "thesis").mkdir()
    (home / "thesis" / "thesis.txt").write_text("four years of work\n")
    make_hf_deberta(home / "distil-bin", pickle_only=True)  # a family that loads through transformers
    make_hf_deberta(home / "distil-corrupt")
    w = home / "distil-corrupt" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: len(w.read_bytes()) // 2])
    (home / "latin1.yaml").write_bytes("name: caf\xe9\nstages: []\n".encode("latin-1"))
    (res,) = export_model(home / "clf", load_labelled(home / "data.csv", label_names=["neg", "pos"]), home / "bundles",
                          ExportOptions(["onnx"], seq_len=16, calib_size=4, eval_limit=16))
    assert res.passed
    return home


def _damaged_bundle(home: Path, name: str, damage) -> Path:
    dest = home / "damaged" / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(home / "bundles" / "onnx-fp32", dest)
    damage(dest)
    return dest


def _meta_edit(**changes):
    def damage(b: Path):
        doc = json.loads((b / "metadata.json").read_text())
        for key, value in changes.items():
            target = doc
            *parents, last = key.split(".")
            for p in parents:
                target = target[p]
            target[last] = value
        (b / "metadata.json").write_text(json.dumps(doc))
    return damage


def _bad_json(b: Path):
    (b / "metadata.json").write_text('{"format": "edgebert-bundle", ')


def _swap_model(b: Path):
    art = b / "model.onnx"
    art.write_bytes(art.read_bytes()[:-8] + b"\0" * 8)


def _three_labels(b: Path):
    (b / "labels.txt").write_text("neg\npos\nneutral\n")


BUNDLE_DAMAGE = {
    "invalid-metadata": (_bad_json, "is not valid JSON"),
    "wrong-sha": (_meta_edit(**{"artifact.sha256": "0" * 64}), "not the artifact this bundle's gates measured"),
    "swapped-model": (_swap_model, "not the artifact this bundle's gates measured"),
    "label-count": (_three_labels, "lists 3 labels but the model has 2 outputs"),
    "failed-gates": (_meta_edit(status="rejected", **{"gates.passed": False}), "--allow-failed-gates"),
}


def cases(home: Path) -> dict[str, tuple[list, str]]:
    """(argv, words the error line must contain) per mistake."""
    (home / "afile").write_text("not a folder\n")
    out = home / "outputs"
    clf, enc, data = home / "clf", home / "enc", home / "data.csv"
    teach = ["teacher", "--base", enc, "--data", data, "--epochs", "0"]
    return {
        # data loss
        "teacher-out-is-a-file": ([*teach, "--out", home / "afile"], "is a file, not a folder"),
        "teacher-out-holds-user-files": ([*teach, "--out", home / "thesis"], "holds files that edgebert did not write"),
        "compress-out-holds-user-files": (["compress", "--teacher", clf, "--data", data, "--out", home / "thesis"],
                                          "holds files that edgebert did not write"),
        "export-out-holds-user-files": (["export", clf, "--calibration", data, "--target", "onnx", "--out", home / "thesis"],
                                        "holds files that edgebert did not write"),
        "run-out-holds-user-files": (["run", "--teacher", clf, "--data", data, "--device", "none", "--out", home / "thesis"],
                                     "holds files that edgebert did not write"),
        "bench-out-is-a-file": (["bench", home / "bundles" / "onnx-fp32", "--out", home / "notes.txt"],
                                "is a file, not a folder"),
        "eval-json-is-user-file": (["eval", clf, "--data", data, "--json", home / "notes.txt"],
                                   "was not written by edgebert"),
        # raw tracebacks
        "eval-seq-len-above-positions": (["eval", clf, "--data", data, "--seq-len", 65], "exceeds the model's 64 positions"),
        "recipe-not-utf8": (["compress", "--teacher", clf, "--data", data, "--recipe", home / "latin1.yaml",
                             "--out", out / "c1"], "is not UTF-8"),
        "eval-json-is-a-folder": (["eval", clf, "--data", data, "--json", home / "thesis"], "is a folder"),
        "teacher-top-layers-negative": ([*teach, "--top-layers", -1, "--out", out / "t1"], "--top-layers must be 0 or more"),
        "non-bert-corrupt-safetensors": (["compress", "--teacher", home / "distil-corrupt", "--data", data,
                                          "--out", out / "c2"], "corrupt or truncated"),
        "non-bert-pickle-only": (["compress", "--teacher", home / "distil-bin", "--data", data, "--out", out / "c3"],
                                 "edgebert never unpickles"),
        # options that used to write broken state
        "teacher-pooling": ([*teach, "--pooling", "foo", "--out", out / "t2"], "--pooling 'foo' is not a pooling"),
        "teacher-seq-len-above-positions": ([*teach, "--seq-len", 1000, "--out", out / "t3"],
                                            "exceeds the encoder's 64 positions"),
        "teacher-top-layers-too-many": ([*teach, "--top-layers", 10, "--out", out / "t4"], "the encoder has only 2 layers"),
        "eval-seq-len-zero": (["eval", clf, "--data", data, "--seq-len", 0], "--seq-len 0 is too short"),
        "export-keep-float-unknown": (["export", clf, "--calibration", data, "--target", "onnx", "--quantize", "int8",
                                       "--keep-float", "encoder.layer.99", "--out", out / "e1"], "no such module"),
        "export-negative-budget": (["export", clf, "--calibration", data, "--target", "onnx", "--accuracy-budget", -5,
                                    "--out", out / "e2"], "--accuracy-budget -5.0 is not a number of accuracy points"),
        "export-no-data-flag": (["export", clf, "--target", "onnx", "--out", out / "e3"], "pass --calibration FILE"),
        "export-embedding-bits-3": (["export", clf, "--calibration", data, "--target", "executorch", "--quantize",
                                     "int8", "--embedding-bits", 3, "--out", out / "e4"],
                                    "--embedding-bits 3 is not supported"),
        "compress-zero-fractions": (["compress", "--teacher", clf, "--data", data, "--recipe", home / "zero.yaml",
                                     "--out", out / "c4"], "each split needs a fraction above 0"),
        # fail before the long work
        "run-recipe-for-a-deeper-teacher": (["run", "--teacher", clf, "--data", data, "--recipe", "tinybert-4l",
                                             "--device", "none", "--out", out / "r1"], "name teacher layer 2"),
        "run-unreachable-ssh": (["run", "--teacher", clf, "--data", data, "--device", "ssh://nobody@127.0.0.1:9",
                                 "--out", out / "r2"], "127.0.0.1"),
        "run-unknown-device": (["run", "--teacher", clf, "--data", data, "--device", "pager", "--out", out / "r3"],
                               "unknown device 'pager'"),
        # click's own usage errors
        "unknown-option": (["eval", "--nope"], "No such option: --nope"),
        "not-an-int": (["eval", "--latency-runs", "abc"], "Invalid value for '--latency-runs'"),
        # bundles are verified before use
        **{f"bench-{name}": (["bench", _damaged_bundle(home, name, fn), "--out", out / f"b-{name}"], words)
           for name, (fn, words) in BUNDLE_DAMAGE.items()},
        **{f"demo-{name}": (["demo", _damaged_bundle(home, name, fn), "--port", 0], words)
           for name, (fn, words) in BUNDLE_DAMAGE.items()},
    }


CASE_NAMES = [
    "teacher-out-is-a-file", "teacher-out-holds-user-files", "compress-out-holds-user-files",
    "export-out-holds-user-files", "run-out-holds-user-files", "bench-out-is-a-file", "eval-json-is-user-file",
    "eval-seq-len-above-positions", "recipe-not-utf8", "eval-json-is-a-folder", "teacher-top-layers-negative",
    "non-bert-corrupt-safetensors", "non-bert-pickle-only", "teacher-pooling", "teacher-seq-len-above-positions",
    "teacher-top-layers-too-many", "eval-seq-len-zero", "export-keep-float-unknown", "export-negative-budget",
    "export-no-data-flag", "export-embedding-bits-3", "compress-zero-fractions", "run-recipe-for-a-deeper-teacher", "run-unreachable-ssh",
    "run-unknown-device", "unknown-option", "not-an-int",
    *[f"{cmd}-{name}" for cmd in ("bench", "demo") for name in BUNDLE_DAMAGE],
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_mistake_is_one_line_exit_2_and_loses_nothing(case, user):
    (user / "zero.yaml").write_text("name: zero\ndev_fraction: 0\ntest_fraction: 0\n"
                                    "stages: [{type: distill, phase: prediction, max_steps: 1}]\n")
    argv, words = cases(user)[case]
    before = snapshot(user)
    res = edgebert(*argv)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    assert "Traceback" not in res.stdout + res.stderr, res.stderr[-3000:]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], res.stderr[-2000:]
    after = snapshot(user)
    assert {k: v for k, v in after.items() if k in before} == before, "a file the user had changed or vanished"
    if case.startswith("run-"):  # failed before any step: no student was trained
        assert not any("student" in k for k in after if k not in before), sorted(set(after) - set(before))


def test_read_only_out_fails_before_training(user):
    """Permission bits do not stop root, so the folder is a read-only mount (private mount namespace)."""
    ro = user / "readonly"
    ro.mkdir(exist_ok=True)
    script = (f'mount -t tmpfs -o ro,size=64k tmpfs "{ro}" && exec "{EXE}" teacher --base "{user / "enc"}" '
              f'--data "{user / "data.csv"}" --out "{ro / "t"}"')
    res = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "encoding" not in res.stderr  # no training started
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not writable" in errors[0] and "Read-only file system" in errors[0], res.stderr


def test_disk_full_mid_export_leaves_nothing_half_written_and_the_rerun_succeeds(user):
    """ENOSPC during an export: one line, no partial bundle; after space is freed the same
    command succeeds. A 256 KiB tmpfs holds less than the artifact plus its bundle copy."""
    full = user / "small-disk"
    full.mkdir(exist_ok=True)
    cmd = (f'"{EXE}" export "{user / "clf"}" --calibration "{user / "data.csv"}" --target onnx --seq-len 16 '
           f'--calib-size 4 --eval-limit 16 --out "{full / "b"}"')
    script = (f'mount -t tmpfs -o size=256k tmpfs "{full}" && echo mine > "{full}/mine.txt" || exit 99; '
              f'{cmd} 2>"{user}/enospc.err" >/dev/null; echo "first=$?"; ls -A "{full / "b"}"; echo ---; '
              f'mount -o remount,size=64m "{full}" && {cmd} >/dev/null 2>&1; echo "second=$?"; '
              f'ls -A "{full / "b"}"; cat "{full}/mine.txt"')
    res = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], capture_output=True,
                         text=True, timeout=600)
    first, second = res.stdout.split("---")
    err = (user / "enospc.err").read_text()
    assert "first=2" in first, (res.stdout, err[-2000:])
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on the device" in errors[0], err[-2000:]
    assert first.split("first=2")[1].split() == [".edgebert"]  # no bundle, no scratch folders
    assert "second=0" in second and "onnx-fp32" in second.split() and "mine" in second.split(), res.stdout


def test_run_on_an_unknown_adb_serial_fails_before_any_step(user, adb_server_port):
    """No such phone: one line within seconds, before compression (the private adb server of
    tests/adb_fixtures.py answers, so no developer's phone is touched)."""
    import time

    out = user / "outputs" / "r-adb"
    t0 = time.monotonic()
    res = edgebert("run", "--teacher", user / "clf", "--data", user / "data.csv", "--device", "adb:NOSUCHSERIAL",
                   "--out", out, env={"ANDROID_ADB_SERVER_PORT": adb_server_port})
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.returncode == 2 and len(errors) == 1 and "NOSUCHSERIAL" in errors[0], res.stderr[-2000:]
    assert "Traceback" not in res.stderr and not out.exists() and time.monotonic() - t0 < 120
