"""The local hash -> path hints that let `edgebert bench` find a bundle's teacher (edgebert.sources).

A hint is best effort: a stale one must not send bench to a path that is gone, and a cache
edgebert cannot write must cost the hint only, never the export that records it.
"""

from __future__ import annotations

import json

import pytest

from edgebert import fsutil
from edgebert.sources import recall, remember


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def ckpt(tmp_path):
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "model.safetensors").write_bytes(b"w")
    return tmp_path / "teacher"


def test_remember_then_recall(ckpt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    remember("checkpoint", "sha-a", "teacher")  # relative, as typed on the command line
    assert recall("checkpoint", "sha-a") == ckpt.resolve() and recall("checkpoint", "sha-a").is_absolute()
    monkeypatch.chdir(ckpt)
    assert recall("checkpoint", "sha-a") == ckpt.resolve()  # still right from elsewhere
    assert recall("checkpoint", "sha-b") is None
    assert recall("data", "sha-a") is None  # kinds are kept apart
    assert recall("checkpoint", None) is None


def test_hints_for_several_files_coexist_and_the_latest_path_wins(ckpt, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n")
    remember("checkpoint", "sha-a", ckpt)
    remember("data", "sha-d", csv)
    assert recall("checkpoint", "sha-a") == ckpt and recall("data", "sha-d") == csv
    moved = tmp_path / "moved"
    ckpt.rename(moved)
    remember("checkpoint", "sha-a", moved)
    assert recall("checkpoint", "sha-a") == moved and recall("data", "sha-d") == csv


def test_a_deleted_path_is_not_recalled(ckpt, cache):
    remember("checkpoint", "sha-a", ckpt)
    (ckpt / "model.safetensors").unlink()
    ckpt.rmdir()
    assert recall("checkpoint", "sha-a") is None
    assert "sha-a" in (cache / "sources.json").read_text()  # forgotten by the check, not by luck


def test_nothing_is_remembered_without_a_hash_or_for_a_missing_path(tmp_path, cache):
    remember("checkpoint", None, tmp_path)
    remember("checkpoint", "sha-x", tmp_path / "absent")
    assert not (cache / "sources.json").exists()


def test_a_damaged_index_is_an_empty_one(ckpt, cache):
    cache.mkdir()
    for text in ("{not json", "[1, 2]"):
        (cache / "sources.json").write_text(text)
        assert recall("checkpoint", "sha-a") is None
        remember("checkpoint", "sha-a", ckpt)
        assert recall("checkpoint", "sha-a") == ckpt
        assert json.loads((cache / "sources.json").read_text()) == {"checkpoint": {"sha-a": str(ckpt)}}


def test_a_read_only_cache_loses_only_the_hint(ckpt, cache, monkeypatch):
    """Root writes through permission bits: the refused temporary file is simulated."""
    cache.mkdir()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", denied)
    remember("checkpoint", "sha-a", ckpt)
    assert recall("checkpoint", "sha-a") is None


def test_a_cache_folder_that_cannot_be_created_loses_only_the_hint(ckpt, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "afile" / "cache"))
    remember("checkpoint", "sha-a", ckpt)
    assert recall("checkpoint", "sha-a") is None
