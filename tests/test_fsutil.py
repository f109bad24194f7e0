"""The output-folder rule and atomic writes (edgebert.fsutil).

Users point --out at real folders: a wrong check either destroys their files or refuses a
re-run of edgebert's own output, and a non-atomic write leaves half a checkpoint behind.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgebert import fsutil
from builders import refused
from edgebert.errors import EdgebertError
from edgebert.fsutil import (MARKER, atomic_dir, atomic_write_bytes, check_output_dir, check_output_file,
                             clean_stale, output_dir, safe_name, scratch_dir, sha256_tree, written_by_edgebert)


@pytest.fixture
def umask_027():
    """A umask other than the usual 022, so a mode that follows it cannot match by accident."""
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- which folders edgebert may write ---------------------------------------------------------

def test_absent_and_empty_folders_are_allowed(tmp_path):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == tmp_path / "empty"


@pytest.mark.parametrize("own", [MARKER, "edgebert.json", "compress_report.json", "steps"])
def test_a_folder_edgebert_wrote_may_be_reused(tmp_path, own):
    """Marked folders and format-1 outputs (legacy names, before the marker) resume."""
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    if own == "steps":
        (tmp_path / own).mkdir()
    else:
        (tmp_path / own).write_text("{}")
    assert written_by_edgebert(tmp_path)
    assert check_output_dir(tmp_path) == tmp_path


def test_a_legacy_bundle_is_recognised_by_its_format_only(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for folder, fmt in ((ours, "edgebert-bundle"), (theirs, "someone-elses")):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"onnx")
        (folder / "metadata.json").write_text(json.dumps({"format": fmt}))
    assert written_by_edgebert(ours)
    assert not written_by_edgebert(theirs)
    (theirs / "metadata.json").write_text("not json")
    assert not written_by_edgebert(theirs)


def test_a_file_is_refused(tmp_path):
    f = tmp_path / "report.txt"
    f.write_text("mine")
    assert "is a file" in refused(check_output_dir, f, "--out")
    assert f.read_text() == "mine"


def test_a_folder_with_a_users_file_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    msg = refused(check_output_dir, tmp_path, "--out")
    assert msg.startswith(f"--out {tmp_path} already holds files that edgebert did not write")
    assert not written_by_edgebert(tmp_path)


def test_a_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "notes").write_text("mine")
    msg = refused(check_output_dir, tmp_path / "notes" / "run", "run folder")
    assert "run folder" in msg and f"lies under {tmp_path / 'notes'}, which is a file" in msg


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    """The probe really creates a file (root and read-only mounts defeat permission bits);
    it is run in the nearest existing folder and its OSError becomes one line."""
    probed = []

    def denied(*args, dir=None, **kwargs):
        probed.append(Path(dir))
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fsutil.tempfile, "TemporaryFile", denied)
    msg = refused(check_output_dir, tmp_path / "a" / "b", "--out")
    assert probed == [tmp_path]
    assert msg.startswith(f"cannot write --out {tmp_path / 'a' / 'b'}: {tmp_path} is not writable")
    assert "Permission denied" in msg
    with pytest.raises(EdgebertError):
        output_dir(tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_output_dir_marks_every_folder_it_creates(tmp_path):
    out = output_dir(tmp_path / "runs" / "r1")
    assert (out / MARKER).is_file() and (tmp_path / "runs" / MARKER).is_file()
    assert not (tmp_path / MARKER).exists()  # the user's folder was there before
    (out / "report.json").write_text("{}")
    (out / "extra.txt").write_text("edgebert wrote this too")
    assert output_dir(out) == out  # a re-run of the same output is allowed


FMT = "edgebert-eval"


def test_check_output_file_allows_a_new_file(tmp_path):
    assert check_output_file(tmp_path / "r" / "new.json", "--json", FMT) == tmp_path / "r" / "new.json"


def test_check_output_file_refuses_what_edgebert_did_not_write(tmp_path):
    for text in (json.dumps({"format": "other"}), "[1, 2]", "plain text"):
        theirs = tmp_path / "theirs.json"
        theirs.write_text(text)
        msg = refused(check_output_file, theirs, "--json", FMT)
        assert msg.startswith(f"--json {theirs} exists and was not written by edgebert")
        assert theirs.read_text() == text
    assert "is a folder" in refused(check_output_file, tmp_path, "--json", FMT)
    (tmp_path / "f").write_text("mine")
    msg = refused(check_output_file, tmp_path / "f" / "x.json", "--json", FMT)
    assert str(tmp_path / "f") in msg and "is a file" in msg


@pytest.mark.parametrize("neighbour", ["ours.json", "notes.txt"])
def test_check_output_file_allows_a_report_edgebert_wrote_and_a_new_one_next_to_user_files(tmp_path, neighbour):
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"format": FMT, "rows": []}))
    if neighbour == "notes.txt":
        (tmp_path / "notes.txt").write_text("mine")
        assert check_output_file(tmp_path / "new.json", "--json", FMT) == tmp_path / "new.json"
    else:
        assert check_output_file(ours, "--json", FMT) == ours


# --- atomic outputs ---------------------------------------------------------------------------

def _siblings(tmp_path: Path, name: str) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{name}."))


def test_atomic_dir_replaces_an_edgebert_folder_only_on_success(tmp_path):
    out = tmp_path / "bundle"
    with atomic_dir(out) as tmp:
        (tmp / "v1.txt").write_text("one")
    assert (out / MARKER).is_file() and (out / "v1.txt").read_text() == "one"

    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "v2.txt").write_text("half")
        raise RuntimeError("killed mid-export")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "v1.txt"]
    assert _siblings(tmp_path, "bundle") == []

    with atomic_dir(out) as tmp:
        (tmp / "v2.txt").write_text("two")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "v2.txt"]
    assert _siblings(tmp_path, "bundle") == []


def test_atomic_dir_failure_leaves_no_output_and_no_temp_folder(tmp_path):
    with pytest.raises(ValueError), atomic_dir(tmp_path / "new"):
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_never_replaces_a_users_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"jpg")
    entered = False
    with pytest.raises(EdgebertError):
        with atomic_dir(tmp_path / "mine"):
            entered = True
    assert not entered
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["photo.jpg"]
    assert _siblings(tmp_path, "mine") == []


def test_atomic_outputs_follow_the_umask(tmp_path, umask_027):
    """mkdtemp/mkstemp make 0700/0600: outputs must be as readable as anything else the user writes."""
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a").write_text("x")
    assert _mode(tmp_path / "out") == 0o750
    f = atomic_write_bytes(tmp_path / "sub" / "model.bin", b"\x00\x01")
    assert _mode(f) == 0o640


def test_atomic_write_bytes_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "m.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["m.bin"]


# --- scratch left by killed runs --------------------------------------------------------------

def test_clean_stale_removes_only_dead_processes_leftovers(tmp_path, dead_pid, live_pid):
    prefix = ".out.tmp-"
    dead_dir, dead_file = tmp_path / f"{prefix}{dead_pid}-a", tmp_path / f"{prefix}{dead_pid}-b"
    live_dir, mine = tmp_path / f"{prefix}{live_pid}-c", tmp_path / f"{prefix}{os.getpid()}-d"
    other = tmp_path / f".other.tmp-{dead_pid}-e"
    for d in (dead_dir, live_dir, mine, other):
        d.mkdir()
        (d / "part").write_text("x")
    dead_file.write_text("x")
    clean_stale(tmp_path, prefix)
    assert not dead_dir.exists() and not dead_file.exists()
    assert live_dir.exists() and mine.exists() and other.exists()


def test_a_killed_runs_temp_folder_goes_with_the_next_atomic_dir(tmp_path, dead_pid):
    stale = tmp_path / f".out.tmp-{dead_pid}-xyz"
    stale.mkdir()
    with atomic_dir(tmp_path / "out"):
        pass
    assert not stale.exists()


def test_scratch_dir(tmp_path, dead_pid, live_pid):
    stale, kept = tmp_path / f"scr-{dead_pid}-1", tmp_path / f"scr-{live_pid}-1"
    stale.mkdir()
    kept.mkdir()
    with pytest.raises(KeyError), scratch_dir(tmp_path, "scr-") as tmp:
        assert tmp.is_dir() and tmp.parent == tmp_path and tmp.name.startswith(f"scr-{os.getpid()}-")
        assert not stale.exists() and kept.exists()
        raise KeyError
    assert not tmp.exists() and kept.exists()


# --- content hashes and names -----------------------------------------------------------------

def test_sha256_tree_sees_every_content_and_name_change(tmp_path):
    def tree(root: Path, files: dict[str, bytes]) -> str:
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        return sha256_tree(root)

    base = {"Manifest.json": b"{}", "Data/weights.bin": b"\x00" * 64}
    h = tree(tmp_path / "a", base)
    assert tree(tmp_path / "b", base) == h  # where the tree lies does not matter
    assert tree(tmp_path / "c", {**base, "Data/weights.bin": b"\x00" * 63 + b"\x01"}) != h
    assert tree(tmp_path / "d", {"Manifest.json": b"{}", "Data/weights2.bin": b"\x00" * 64}) != h
    assert tree(tmp_path / "e", {"Manifest.json": b"{}", "weights.bin": b"\x00" * 64}) != h
    assert tree(tmp_path / "f", {**base, "extra": b""}) != h


@pytest.mark.parametrize("name, expected", [
    ("ssh://pi@board:22", "ssh_pi_board_22"),
    ("emulator-5554", "emulator-5554"),
    ("my run (v2).yaml", "my_run_v2_.yaml"),
    ("../../etc/passwd", "_.._etc_passwd"),  # no leading dot: never "." or ".." or hidden
    ("café", "caf"),
    ("///", "_"),
    ("", "_"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["..", "."])
def test_safe_name_is_never_a_relative_folder(name):
    assert safe_name(name) not in (".", "..")
